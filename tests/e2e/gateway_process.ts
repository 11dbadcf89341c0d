/** Helpers to run the real entrypoint (`deno run -A main.ts`) as a child process in tests. */
import assert from "node:assert/strict";

export const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const MAIN = `${REPO}/main.ts`;
export const DENO_JSON = `${REPO}/deno.json`;
export const START_TIMEOUT_MS = 20_000;

/** Gateway env vars blanked for every child, so the parent's environment cannot leak in. */
export const GATEWAY_ENV = [
  "PORT",
  "HOST",
  "PROXY_API_KEYS",
  "ADMIN_TOKEN",
  "KV_PATH",
  "KV_ENCRYPTION_KEY",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "MAX_RETRIES",
  "COOLDOWN_SECONDS",
  "ALLOW_OPEN",
  "LLM_PROXY_CONFIG",
  "DENO_DEPLOYMENT_ID",
  "DENO_DEPLOY",
];

/** A stack frame as V8/Deno print them. */
export const STACK_FRAME = /\n\s*at\s|^\s*at\s+\S+\s+\(/m;

export interface SpawnOptions {
  /** Arguments for the gateway (after main.ts). */
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface Gateway {
  /** stderr lines so far. */
  lines: string[];
  /** Resolves with the first stderr line (old or new) matching `re`. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>;
  /** Base URL on 127.0.0.1 (resolved from the "listening" line). */
  url: string;
  /** The gateway process' id (memory figures in bench/body_memory.ts). */
  pid: number;
  status: Promise<Deno.CommandStatus>;
  stop(): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads a stream to its end as lines; the promise settles when the pipe closes. */
export async function pumpLines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) {
  let buf = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  } catch {
    // The child went away; keep what was read.
  }
  if (buf !== "") onLine(buf);
}

/** Starts `deno run -A --config <repo>/deno.json <repo>/main.ts ...args` with piped output. */
export function spawn(options: SpawnOptions): ReturnType<typeof spawnChild> {
  return spawnChild(options);
}

function spawnChild(options: SpawnOptions) {
  const env: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  for (const k of GATEWAY_ENV) env[k] = "";
  Object.assign(env, { PORT: "0" }, options.env ?? {});
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", DENO_JSON, MAIN, ...(options.args ?? [])],
    cwd: options.cwd ?? REPO,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const stdout: string[] = [];
  const pumps = Promise.all([
    pumpLines(child.stderr, (l) => lines.push(l)),
    pumpLines(child.stdout, (l) => stdout.push(l)),
  ]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  async function waitForLine(re: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (exited) {
        await pumps;
        const late = lines.find((l) => re.test(l));
        if (late !== undefined) return late;
        throw new Error(`gateway exited before logging ${re}:\n${lines.join("\n")}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`no line matching ${re} within ${timeoutMs} ms:\n${lines.join("\n")}`);
      }
      await sleep(25);
    }
  }

  async function stop(): Promise<void> {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = await Promise.race([
        status.then(() => true),
        new Promise<false>((r) => timer = setTimeout(() => r(false), 5000)),
      ]);
      clearTimeout(timer);
      if (!killed) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    await status;
    await pumps;
  }

  return { child, lines, stdout, status, pumps, waitForLine, stop };
}

/** Runs the gateway expecting it to exit by itself (bounded); returns its code and stderr. */
export async function runToExit(
  options: SpawnOptions,
): Promise<{ code: number; stderr: string[] }> {
  const p = spawn(options);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    p.status.then(() => false),
    new Promise<true>((r) => timer = setTimeout(() => r(true), START_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
  await p.stop();
  if (timedOut) throw new Error(`gateway did not exit within ${START_TIMEOUT_MS} ms`);
  const { code } = await p.status;
  return { code, stderr: p.lines };
}

/** Starts the gateway and waits for its "listening" line; the URL always targets 127.0.0.1. */
export async function startGatewayProcess(options: SpawnOptions): Promise<Gateway> {
  const p = spawn(options);
  try {
    const line = await p.waitForLine(/llm-proxy listening on http:\/\//, START_TIMEOUT_MS);
    const m = /llm-proxy listening on http:\/\/\S+:(\d+)/.exec(line);
    assert.ok(m, `a port in: ${line}`);
    return {
      lines: p.lines,
      waitForLine: p.waitForLine,
      url: `http://127.0.0.1:${m[1]}`,
      pid: p.child.pid,
      status: p.status,
      stop: p.stop,
    };
  } catch (err) {
    await p.stop();
    throw err;
  }
}
