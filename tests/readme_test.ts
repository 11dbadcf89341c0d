import assert from "node:assert/strict";
import { parseDoctorArgs, runDoctor } from "../src/cli/doctor.ts";
import { ENV_OVERRIDES, validateConfig } from "../src/config/load.ts";
import { parse as parseYaml } from "yaml";
import { startTestGateway, type TestGateway } from "./e2e/start_gateway.ts";
import { startEchoServer } from "./fakes/echo_server.ts";

/**
 * Every fenced block of README.md is run or validated: JSON configs against the schema, TS
 * blocks type-checked, shell blocks run (curl against gateways on 127.0.0.1, doctor against
 * them) or checked (exported variables, tasks and commands exist).
 */
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const README = await Deno.readTextFile(`${ROOT}/README.md`);
const BLOCKS = [...README.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)].map((m) => ({
  lang: m[1],
  body: m[2],
  line: README.slice(0, m.index).split("\n").length,
}));
const TASKS = Object.keys(
  (JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as { tasks: Record<string, string> })
    .tasks,
);
const README_URL = "http://127.0.0.1:8000";
const CLIENT_KEY = "sk-client-1";
const ADMIN_TOKEN = "change-me";

/** Env variables the README may export: the gateway's own and the documented clients'. */
const KNOWN_ENV = new Set([
  ...Object.keys(ENV_OVERRIDES),
  "HOST",
  "KV_PATH",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "LLM_PROXY_CONFIG",
  "KV_ENCRYPTION_KEY",
  "OLD_KV_ENCRYPTION_KEY",
  "NEW_KV_ENCRYPTION_KEY",
  "ALLOW_OPEN",
  "LLM_PROXY_URL",
  "ANTHROPIC_BASE_URL",
  "ANTHROPIC_AUTH_TOKEN",
  "ANTHROPIC_API_KEY",
  "ANTHROPIC_MODEL",
  "ANTHROPIC_DEFAULT_HAIKU_MODEL",
  "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
  "GOOGLE_GEMINI_BASE_URL",
  "GEMINI_API_KEY",
  "LLM_PROXY_KEY",
]);
/** Programs the README tells people to run that are not part of this repository. */
const EXTERNAL_COMMANDS = new Set(["claude", "gemini", "codex", "openssl"]);

Deno.test("README: every json/yaml block is a valid config", () => {
  const configs = BLOCKS.filter((b) => b.lang === "json" || b.lang === "yaml");
  assert.ok(configs.length >= 3, "minimal, full and accounts examples");
  for (const b of configs) {
    const raw: unknown = b.lang === "json" ? JSON.parse(b.body) : parseYaml(b.body);
    assert.doesNotThrow(() => validateConfig(raw), `README.md:${b.line}`);
  }
});

Deno.test("README: the Codex TOML names a Responses provider on /v1", () => {
  const toml = BLOCKS.filter((b) => b.lang === "toml");
  assert.equal(toml.length, 1);
  assert.match(toml[0].body, /^wire_api = "responses"/m);
  assert.match(toml[0].body, /^base_url = "http:\/\/127\.0\.0\.1:8000\/v1"/m);
  assert.match(toml[0].body, /^model_provider = "llm-proxy"/m);
  assert.match(toml[0].body, /^\[model_providers\.llm-proxy\]/m);
});

Deno.test("README: the TypeScript blocks type-check", async () => {
  const ts = BLOCKS.filter((b) => b.lang === "ts");
  assert.ok(ts.length >= 3, "OpenAI, Anthropic and Google SDK examples");
  const dir = await Deno.makeTempDir();
  try {
    const files: string[] = [];
    for (const [i, b] of ts.entries()) {
      const file = `${dir}/readme_block_${i}.ts`;
      await Deno.writeTextFile(file, b.body + "\nexport {};\n");
      files.push(file);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", `${ROOT}/deno.json`, ...files],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Shell commands of a block: continuation lines joined, comments and blank lines dropped. */
function commands(body: string): string[] {
  return body.replace(/\\\n\s*/g, " ").split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

Deno.test("README: shell blocks run against gateways with fakes, or name what exists", async () => {
  // The dev demo is open (no keys); the rest of the README uses sk-client-1 and change-me.
  const open = await startTestGateway({
    providers: [{ id: "demo", type: "echo", models: ["demo"] }],
  });
  // The pass-through examples name real providers and api.example.com: here their presets and
  // that host lead to a loopback echo server, which the guard lets through for this host only.
  const echo = await startEchoServer();
  const echoHost = `127.0.0.1:${echo.port}`;
  const toEcho = { targets: [echo.url] };
  const config = {
    auth: { api_keys: [CLIENT_KEY], admin_token: ADMIN_TOKEN },
    passthrough: {
      allow_hosts: [echoHost],
      presets: { openai: toEcho, anthropic: toEcho, groq: toEcho, deepseek: toEcho },
    },
    providers: [
      { id: "demo", type: "echo", models: ["demo"] },
      { id: "gcli", type: "gemini-cli", models: ["gemini-2.5-pro"] },
    ],
    models: { smart: { routes: [{ provider: "demo", model: "demo" }] } },
  };
  const keyed = await startTestGateway(config);
  const home = await Deno.makeTempDir();
  try {
    // One stored version, so the README's rollback has something to go back to.
    const seeded = await fetch(`${keyed.url}/admin/config`, {
      method: "PUT",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(config),
    });
    assert.equal(seeded.status, 200, await seeded.text());
    let curls = 0;
    for (const b of BLOCKS.filter((b) => b.lang === "sh")) {
      for (const cmd of commands(b.body)) {
        const where = `README.md:${b.line}: ${cmd}`;
        const word = cmd.split(/\s+/);
        if (word[0] === "curl") {
          curls++;
          await runCurl(
            cmd.replace("/https/api.example.com/", `/http/${echoHost}/`),
            /authorization|x-api-key|x-goog-api-key/i.test(cmd) ? keyed : open,
            home,
            where,
          );
        } else if (word[0] === "export") {
          const m = /^export ([A-Z_]+)=(\S+)$/.exec(cmd);
          assert.ok(m, where);
          assert.ok(KNOWN_ENV.has(m[1]), `${where}: unknown variable`);
          if (m[1].endsWith("BASE_URL")) assert.equal(m[2], README_URL, where);
        } else if (word[0] === "deno" && word[1] === "task") {
          assert.ok(TASKS.includes(word[2]), `${where}: no such task`);
          if (word[2] === "doctor") await runReadmeDoctor(word.slice(3), keyed, where);
        } else if (word[0] === "npx" && word[3] === "task") {
          assert.deepEqual(word.slice(0, 3), ["npx", "-y", "deno@2"], where);
          assert.ok(TASKS.includes(word[4]), `${where}: no such task`);
        } else {
          assert.ok(EXTERNAL_COMMANDS.has(word[0]), `${where}: unknown command`);
        }
      }
    }
    assert.ok(curls >= 8, `ran ${curls} curl commands`);
    assert.ok(echo.hits >= 5, `pass-through examples reached the echo server ${echo.hits} times`);
  } finally {
    await echo.close();
    await open.close();
    await keyed.close();
    await Deno.remove(home, { recursive: true });
  }
});

/** Runs one README curl against `gw`; it must succeed, or (reading a local file) reach a real route. */
async function runCurl(cmd: string, gw: TestGateway, home: string, where: string): Promise<void> {
  const readsFile = /@\S+/.test(cmd);
  const out = await new Deno.Command("bash", {
    args: ["-c", `${cmd.replaceAll(README_URL, gw.url)} -sS -o /dev/null -w '%{http_code}' -m 10`],
    env: { ADMIN_TOKEN, HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const status = Number(new TextDecoder().decode(out.stdout).trim().slice(-3));
  if (readsFile) {
    // The credential file exists only on the reader's machine: the route must exist and answer.
    assert.ok(status !== 404 && status > 0 && status < 500, `${where}: HTTP ${status}`);
  } else {
    assert.equal(out.code, 0, `${where}: ${new TextDecoder().decode(out.stderr)}`);
    assert.ok(status >= 200 && status < 300, `${where}: HTTP ${status}`);
  }
}

async function runReadmeDoctor(args: string[], gw: TestGateway, where: string): Promise<void> {
  const options = parseDoctorArgs(args.map((a) => a.replaceAll(README_URL, gw.url)), {});
  assert.equal(options.url, gw.url, where);
  const rows = await runDoctor({ ...options, timeoutMs: 5000 });
  const failed = rows.filter((r) => r.status === "fail" && r.check !== "provider gcli");
  assert.deepEqual(failed, [], where);
}
