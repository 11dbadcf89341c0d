import assert from "node:assert/strict";
import { constantTimeEqual, isAuthorized, presentedKeys } from "../../src/auth/client_auth.ts";

const URL_PLAIN = new URL("http://127.0.0.1/v1/chat/completions");

Deno.test("presentedKeys reads a Bearer token, case-insensitive scheme, trimmed", () => {
  for (const value of ["Bearer sk-one", "bearer sk-one", "BEARER   sk-one  ", "  Bearer\tsk-one"]) {
    assert.deepEqual(
      presentedKeys(new Headers({ authorization: value }), URL_PLAIN),
      ["sk-one"],
      value,
    );
  }
});

Deno.test("presentedKeys ignores non-Bearer and empty Authorization values", () => {
  for (const value of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "sk-raw-key", "Token abc"]) {
    assert.deepEqual(presentedKeys(new Headers({ authorization: value }), URL_PLAIN), [], value);
  }
});

Deno.test("presentedKeys reads x-api-key, x-goog-api-key and ?key=", () => {
  assert.deepEqual(presentedKeys(new Headers({ "x-api-key": " ant-key " }), URL_PLAIN), [
    "ant-key",
  ]);
  assert.deepEqual(presentedKeys(new Headers({ "x-goog-api-key": "AIza-key" }), URL_PLAIN), [
    "AIza-key",
  ]);
  assert.deepEqual(
    presentedKeys(new Headers(), new URL("http://127.0.0.1/v1beta/models?key=q-key&alt=sse")),
    ["q-key"],
  );
  assert.deepEqual(presentedKeys(new Headers(), new URL("http://127.0.0.1/v1/models?key=")), []);
  assert.deepEqual(presentedKeys(new Headers(), URL_PLAIN), []);
});

Deno.test("presentedKeys returns every candidate in a fixed order", () => {
  const headers = new Headers({
    authorization: "Bearer from-auth",
    "x-api-key": "from-x-api-key",
    "x-goog-api-key": "from-goog",
  });
  assert.deepEqual(presentedKeys(headers, new URL("http://127.0.0.1/v1/models?key=from-query")), [
    "from-auth",
    "from-x-api-key",
    "from-goog",
    "from-query",
  ]);
});

Deno.test("constantTimeEqual compares exactly", () => {
  assert.equal(constantTimeEqual("sk-secret", "sk-secret"), true);
  assert.equal(constantTimeEqual("sk-secret", "sk-secreT"), false);
  assert.equal(constantTimeEqual("xk-secret", "sk-secret"), false);
  // Different lengths, including a prefix and a repetition of the expected key.
  assert.equal(constantTimeEqual("sk-secret", "sk-secret2"), false);
  assert.equal(constantTimeEqual("sk-secret2", "sk-secret"), false);
  assert.equal(constantTimeEqual("abab", "ab"), false);
  assert.equal(constantTimeEqual("ab", "abab"), false);
  // Empty strings.
  assert.equal(constantTimeEqual("", "sk-secret"), false);
  assert.equal(constantTimeEqual("sk-secret", ""), false);
  assert.equal(constantTimeEqual("", ""), true);
  // Multi-byte characters compare by their UTF-8 bytes.
  assert.equal(constantTimeEqual("clé-é", "clé-é"), true);
  assert.equal(constantTimeEqual("clé", "cle"), false);
});

Deno.test("isAuthorized accepts when any presented key matches any configured key", () => {
  assert.equal(isAuthorized(["k2"], ["k1", "k2"]), true);
  assert.equal(isAuthorized(["sdk-default", "k1"], ["k1"]), true);
  assert.equal(isAuthorized(["k1", "nope"], ["k1"]), true);
  assert.equal(isAuthorized(["nope"], ["k1", "k2"]), false);
  assert.equal(isAuthorized([], ["k1"]), false);
  assert.equal(isAuthorized(["k1"], []), false);
  assert.equal(isAuthorized(["k"], ["k1"]), false);
});

Deno.test("presentedKeys + isAuthorized end to end over request headers", () => {
  const configured = ["sk-client-123"];
  const ok = (headers: Record<string, string>, url = URL_PLAIN) =>
    isAuthorized(presentedKeys(new Headers(headers), url), configured);
  assert.equal(ok({ authorization: "Bearer sk-client-123" }), true);
  assert.equal(ok({ "x-api-key": "sk-client-123" }), true);
  assert.equal(ok({ "x-goog-api-key": "sk-client-123" }), true);
  assert.equal(ok({}, new URL("http://127.0.0.1/v1beta/models?key=sk-client-123")), true);
  assert.equal(ok({ authorization: "Bearer wrong", "x-api-key": "sk-client-123" }), true);
  assert.equal(ok({ authorization: "Bearer wrong" }), false);
  assert.equal(ok({ authorization: "Basic sk-client-123" }), false);
  assert.equal(ok({}), false);
});
