import assert from "node:assert/strict";
import { toGatewayError } from "../src/errors.ts";
import { isTransientKvError, KvConflictError, withKvRetry } from "../src/kv_retry.ts";

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

Deno.test("KV contention left after the retries is a 503 with Retry-After; a lost race a 409", () => {
  const busy = toGatewayError(new Error("database is locked"));
  assert.equal(busy.status, 503);
  assert.equal(busy.retryAfter, 1);
  assert.equal(busy.code, "kv_busy");
  const conflict = toGatewayError(
    new KvConflictError("account p/1 changed concurrently too often"),
  );
  assert.equal(conflict.status, 409);
  assert.equal(conflict.code, "kv_conflict");
  assert.equal(toGatewayError(new Error("other")).status, 500);
});
