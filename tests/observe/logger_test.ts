import assert from "node:assert/strict";
import { createLogger, type LogLevel, parseLogLevel } from "../../src/observe/logger.ts";

function capture(options: { level?: LogLevel; json?: boolean } = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...options, write: (l) => lines.push(l) });
  return { logger, lines };
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

Deno.test("JSON mode writes one object per line with time, level, msg and fields", () => {
  const { logger, lines } = capture({ json: true, level: "debug" });
  logger.info("request done", { status: 200, ms: 12.5, stream: false, model: "gpt-4o", x: null });
  logger.error("multi\nline", { skipped: undefined });
  assert.equal(lines.length, 2);
  for (const line of lines) assert.ok(!line.includes("\n"), "a line holds no raw newline");
  const first = JSON.parse(lines[0]);
  assert.match(first.time, ISO_TIME);
  assert.deepEqual({ ...first, time: undefined }, {
    time: undefined,
    level: "info",
    msg: "request done",
    status: 200,
    ms: 12.5,
    stream: false,
    model: "gpt-4o",
    x: null,
  });
  const second = JSON.parse(lines[1]);
  assert.equal(second.level, "error");
  assert.equal(second.msg, "multi\nline");
  assert.ok(!("skipped" in second), "undefined fields are left out");
});

Deno.test("text mode writes time, padded LEVEL, msg and key=value fields", () => {
  const { logger, lines } = capture();
  logger.info("listening", { port: 8000, host: "127.0.0.1" });
  logger.warn("slow upstream", { note: "took a while", eq: "a=b", q: 'say "hi"', ok: true });
  logger.error("plain");
  assert.equal(lines.length, 3);
  const [time, rest] = [lines[0].slice(0, 24), lines[0].slice(24)];
  assert.match(time, ISO_TIME);
  assert.equal(rest, " INFO  listening port=8000 host=127.0.0.1");
  assert.equal(
    lines[1].slice(24),
    ' WARN  slow upstream note="took a while" eq="a=b" q="say \\"hi\\"" ok=true',
  );
  assert.equal(lines[2].slice(24), " ERROR plain");
});

Deno.test("level filtering drops lines below the minimum (default info)", () => {
  const levels: LogLevel[] = ["debug", "info", "warn", "error"];
  const expected: Record<LogLevel, LogLevel[]> = {
    debug: ["debug", "info", "warn", "error"],
    info: ["info", "warn", "error"],
    warn: ["warn", "error"],
    error: ["error"],
  };
  for (const min of levels) {
    const { logger, lines } = capture({ json: true, level: min });
    for (const l of levels) logger[l](`at ${l}`);
    assert.deepEqual(lines.map((line) => JSON.parse(line).level), expected[min], `min ${min}`);
  }
  const { logger, lines } = capture({ json: true });
  logger.debug("hidden");
  logger.info("shown");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["shown"]);
});

Deno.test("registered secrets never appear unmasked in msg or fields", () => {
  const secrets = ["upstream-key-AAAA-1111-zzzz", "client-secret-9876", "upstream-key-AAAA"];
  for (const json of [true, false]) {
    const { logger, lines } = capture({ json, level: "debug" });
    logger.setSecrets(secrets);
    logger.debug("using upstream-key-AAAA-1111-zzzz now", { key: "client-secret-9876" });
    logger.info("auth failed", {
      header: "Bearer client-secret-9876",
      both: "upstream-key-AAAA and upstream-key-AAAA-1111-zzzz",
    });
    logger.error("url ?key=client-secret-9876&x=1");
    assert.equal(lines.length, 3);
    const all = lines.join("\n");
    for (const s of secrets) assert.ok(!all.includes(s), `${s} leaked (json=${json}):\n${all}`);
    assert.ok(all.includes("upstr****zzzz"), "the longer secret is masked whole");
  }
});

Deno.test("unregistered Bearer tokens are masked in msg and fields", () => {
  const { logger, lines } = capture({ json: true });
  logger.warn("forwarding Authorization: Bearer abcdefghijklmnopqrstu", {
    auth: "Bearer zyxwvutsrqponmlkjih",
  });
  const obj = JSON.parse(lines[0]);
  assert.equal(obj.msg, "forwarding Authorization: Bearer abcde****rstu");
  assert.equal(obj.auth, "Bearer zyxwv****kjih");
});

Deno.test({
  name: "secret-looking values are masked even when not registered",
  fn() {
    const { logger, lines } = capture({ json: true });
    logger.warn("upstream said: Incorrect API key sk-proj-abcdefghijklmnop", {
      auth: "Bearer abcdefghijklmnopqrstu",
    });
    const obj = JSON.parse(lines[0]);
    assert.equal(obj.msg, "upstream said: Incorrect API key sk-pr****mnop");
    assert.equal(obj.auth, "Bearer abcde****rstu");
  },
});

Deno.test("setSecrets replaces the previous list and ignores secrets under 4 characters", () => {
  const { logger, lines } = capture({ json: true });
  logger.setSecrets(["first-secret-1234"]);
  logger.setSecrets(["second-secret-5678", "abc"]);
  logger.info("first-secret-1234 second-secret-5678 abc");
  assert.equal(JSON.parse(lines[0]).msg, "first-secret-1234 secon****5678 abc");
});

Deno.test("parseLogLevel accepts the four levels in any case, defaulting to info", () => {
  assert.equal(parseLogLevel("debug"), "debug");
  assert.equal(parseLogLevel("WARN"), "warn");
  assert.equal(parseLogLevel("Error"), "error");
  assert.equal(parseLogLevel("info"), "info");
  assert.equal(parseLogLevel("verbose"), "info");
  assert.equal(parseLogLevel(""), "info");
  assert.equal(parseLogLevel(undefined), "info");
});
