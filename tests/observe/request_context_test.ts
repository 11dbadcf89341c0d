import assert from "node:assert/strict";
import {
  bindRequestClient,
  currentRequestClient,
  currentRequestId,
  withRequestId,
} from "../../src/observe/request_context.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { RequestRecord } from "../../src/observe/observer.ts";

Deno.test("withRequestId keeps a sane incoming id, replaces others, and tags every answer", async () => {
  const seen: (string | undefined)[] = [];
  const handler = withRequestId(async () => {
    await Promise.resolve();
    seen.push(currentRequestId());
    return new Response("ok");
  });
  const kept = await handler(
    new Request("http://x/", { headers: { "x-request-id": "abc-123" } }),
  );
  assert.equal(kept.headers.get("x-request-id"), "abc-123");
  const replaced = await handler(
    new Request("http://x/", { headers: { "x-request-id": "x".repeat(500) } }),
  );
  const id = replaced.headers.get("x-request-id") ?? "";
  assert.match(id, /^[0-9a-f]{8}-[0-9a-z]+$/);
  assert.deepEqual(seen, ["abc-123", id], "the id is in scope inside the handler");
  assert.equal(currentRequestId(), undefined, "and only there");

  // A relayed answer's headers are immutable: the answer is rebuilt around its body.
  const relayed = await fetch("data:text/plain,hello");
  const tagged = await withRequestId(() => relayed)(new Request("http://x/"));
  assert.ok(tagged.headers.get("x-request-id"));
  assert.equal(await tagged.text(), "hello");
});

Deno.test("log lines carry the request id and mask keys, as JSON or readable text", async () => {
  const lines: string[] = [];
  const json = createLogger({ json: true, write: (l) => lines.push(l) });
  const text = createLogger({ write: (l) => lines.push(l) });
  await withRequestId(() => {
    json.info("upstream said", { detail: "key sk-abcdef1234567890cdef rejected" });
    text.warn("retrying with Bearer sk-abcdef1234567890cdef");
    return new Response("ok");
  })(new Request("http://x/", { headers: { "x-request-id": "req-7" } }));
  const parsed = JSON.parse(lines[0]);
  assert.equal(parsed.request_id, "req-7");
  assert.equal(parsed.level, "info");
  assert.equal(parsed.detail, "key sk-ab****cdef rejected");
  assert.match(lines[1], /WARN .*request_id=req-7/);
  assert.ok(!lines.join("\n").includes("1234567890"), "no key survives unmasked");
});

Deno.test("the client identity bound for a request names it in every log line and its log entry", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", write: (l) => lines.push(l) });
  await withRequestId(() => {
    bindRequestClient("key-0badc0de");
    logger.info("inside");
    assert.equal(new RequestRecord("openai_chat", "m", false).client, "key-0badc0de");
    return new Response("ok");
  })(new Request("http://x/"));
  logger.info("outside");
  assert.match(lines[0], /inside request_id=\S+ client=key-0badc0de$/);
  assert.doesNotMatch(lines[1], /client=/);
  assert.equal(currentRequestClient(), undefined);
});
