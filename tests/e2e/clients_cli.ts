import assert from "node:assert/strict";
import {
  type FakeOpenAI,
  type RecordedRequest,
  startFakeOpenAI,
} from "../fakes/openai_upstream.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/**
 * Runs the real coding CLIs (installed by `.ci/run` into `.cache/clients/`, git-ignored)
 * against a gateway on 127.0.0.1. Each run gets a throwaway HOME, telemetry and update checks
 * off, no stdin and a hard time limit, so nothing can wait on the internet.
 */
export const CLIENTS_DIR = new URL("../../.cache/clients/node_modules/.bin/", import.meta.url)
  .pathname;

/** The CLI's path, or undefined when `.ci/run` has not installed it here. */
export function cliPath(name: "claude" | "codex" | "gemini"): string | undefined {
  try {
    Deno.statSync(CLIENTS_DIR + name);
    return CLIENTS_DIR + name;
  } catch {
    return undefined;
  }
}

/** Env every CLI run gets: no proxies to the internet, telemetry and auto-update off. */
const QUIET_ENV: Record<string, string> = {
  NO_COLOR: "1",
  CI: "1",
  DO_NOT_TRACK: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_ERROR_REPORTING: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  GEMINI_TELEMETRY_ENABLED: "false",
  OTEL_SDK_DISABLED: "true",
};

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `path args` with a fresh HOME; killed after `timeoutMs`. */
export async function runCli(
  path: string,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs: number; home: string },
): Promise<CliResult> {
  const child = new Deno.Command(path, {
    args,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: options.home,
      XDG_CONFIG_HOME: `${options.home}/.config`,
      TMPDIR: options.home,
      ...QUIET_ENV,
      ...env,
    },
    cwd: options.home,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What one CLI test drives: a fake OpenAI upstream (`fake-gpt`, `gpt-5*`), a fake Anthropic
 * upstream (`claude-*`), the gateway in front, a throwaway HOME.
 */
export interface ClientRig {
  up: FakeOpenAI;
  anthropic: FakeAnthropic;
  gatewayUrl: string;
  home: string;
}

/**
 * Runs `fn` with a fake OpenAI upstream serving `fake-gpt` and `gpt-5*` (upstream key
 * `upstreamKey`), a fake Anthropic upstream serving `claude-*`, a gateway accepting
 * `clientKey` in front of them, and an empty HOME; all removed afterwards.
 */
export async function withClientRig(
  keys: { clientKey: string; upstreamKey: string },
  fn: (rig: ClientRig) => Promise<void>,
): Promise<void> {
  const up = await startFakeOpenAI();
  const anthropic = await startFakeAnthropic();
  const gw = await startTestGateway({
    auth: { api_keys: [keys.clientKey] },
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: [keys.upstreamKey],
      models: ["fake-gpt", "gpt-5*"],
    }, {
      id: "an",
      type: "anthropic",
      base_url: anthropic.url,
      api_keys: ["sk-ant-up-cli"],
      models: ["claude-*"],
    }],
  });
  const home = await Deno.makeTempDir();
  try {
    await fn({ up, anthropic, gatewayUrl: gw.url, home });
  } finally {
    await gw.close();
    await up.close();
    await anthropic.close();
    await Deno.remove(home, { recursive: true });
  }
}

/**
 * Asserts the CLI finished by itself with exit code 0 and printed the fake's answer, and
 * returns the Chat Completions requests the upstream received (at least one).
 */
export function assertAnswered(
  res: CliResult,
  up: FakeOpenAI,
  what: string,
  model = "fake-gpt",
): RecordedRequest[] {
  assertCliPrinted(res, model);
  const chat = up.requests.filter((r) => r.path === "/v1/chat/completions");
  assert.ok(chat.length >= 1, what);
  return chat;
}

/** Asserts the CLI finished by itself with exit code 0 and printed the fake's answer for `model`. */
export function assertCliPrinted(res: CliResult, model: string): void {
  const all = `code=${res.code} timedOut=${res.timedOut}\n${res.stdout}\n${res.stderr}`;
  assert.equal(res.timedOut, false, all);
  assert.equal(res.code, 0, all);
  assert.ok(res.stdout.includes(`Hello from ${model}`), all);
}
