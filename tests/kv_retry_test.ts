import assert from "node:assert/strict";
import { isTransientKvError, withKvRetry } from "../src/kv_retry.ts";

Deno.test("withKvRetry retries 'database is locked' with bounded backoff, then succeeds", async () => {
  let calls = 0;
  const value = await withKvRetry(() => {
    calls++;
    if (calls < 3) return Promise.reject(new Error("database is locked"));
    return Promise.resolve(42);
  });
  assert.equal(value, 42);
  assert.equal(calls, 3);
});

Deno.test("withKvRetry gives up after its attempts and never retries other errors", async () => {
  let calls = 0;
  await assert.rejects(
    withKvRetry(() => {
      calls++;
      return Promise.reject(new Error("SQLITE_BUSY: database is busy"));
    }, 3),
    /busy/,
  );
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    withKvRetry(() => {
      calls++;
      return Promise.reject(new TypeError("bad key"));
    }),
    TypeError,
  );
  assert.equal(calls, 1);
  assert.equal(isTransientKvError(new Error("database is locked")), true);
  assert.equal(isTransientKvError(new Error("other")), false);
});
