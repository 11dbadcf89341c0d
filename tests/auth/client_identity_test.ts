import assert from "node:assert/strict";
import { resolveClientIdentity } from "../../src/auth/client_identity.ts";

const URL_PLAIN = new URL("http://127.0.0.1/v1/chat/completions");
const KEYS = ["sk-client-one-123456", "sk-client-two-654321"];

Deno.test("resolveClientIdentity: the first presented key that matches, never a junk one", () => {
  const junkFirst = resolveClientIdentity(
    new Headers({ authorization: "Bearer junk-1", "x-api-key": KEYS[0] }),
    URL_PLAIN,
    KEYS,
    "10.0.0.1",
  );
  const plain = resolveClientIdentity(
    new Headers({ "x-api-key": KEYS[0] }),
    URL_PLAIN,
    KEYS,
    "10.0.0.2",
  );
  const otherJunk = resolveClientIdentity(
    new Headers({ authorization: "Bearer junk-2", "x-goog-api-key": KEYS[0] }),
    URL_PLAIN,
    KEYS,
    "10.0.0.3",
  );
  // The same key, however it is accompanied: one identity.
  assert.ok(junkFirst && plain && otherJunk);
  assert.equal(junkFirst.id, plain.id);
  assert.equal(otherJunk.id, plain.id);
  assert.equal(plain.kind, "key");
  assert.equal(plain.hint, "sk-cl****3456");
  assert.ok(!plain.id.includes(KEYS[0]) && !plain.hint.includes(KEYS[0]));
  // Precedence when two configured keys are presented: Authorization first, then x-api-key,
  // x-goog-api-key, ?key=.
  const both = resolveClientIdentity(
    new Headers({ authorization: `Bearer ${KEYS[1]}`, "x-api-key": KEYS[0] }),
    URL_PLAIN,
    KEYS,
    undefined,
  );
  assert.equal(both?.hint, "sk-cl****4321");
  const query = resolveClientIdentity(
    new Headers({ "x-goog-api-key": "nope" }),
    new URL(`http://127.0.0.1/v1beta/models?key=${KEYS[1]}`),
    KEYS,
    undefined,
  );
  assert.equal(query?.hint, "sk-cl****4321");
  // No match: undefined (401).
  assert.equal(
    resolveClientIdentity(new Headers({ authorization: "Bearer junk" }), URL_PLAIN, KEYS, "x"),
    undefined,
  );
  assert.equal(resolveClientIdentity(new Headers(), URL_PLAIN, KEYS, "x"), undefined);
});

Deno.test("resolveClientIdentity: on an open gateway the identity is the address, whatever key is sent", () => {
  const a = resolveClientIdentity(
    new Headers({ authorization: "Bearer made-up-1" }),
    URL_PLAIN,
    [],
    "192.0.2.7",
  );
  const b = resolveClientIdentity(
    new Headers({ "x-api-key": "made-up-2" }),
    URL_PLAIN,
    [],
    "192.0.2.7",
  );
  assert.deepEqual(a, { id: "addr:192.0.2.7", hint: "192.0.2.7", kind: "address" });
  assert.deepEqual(b, a);
});

Deno.test("resolveClientIdentity: a key in the query is found from the URL string as from a URL", () => {
  const url = "http://127.0.0.1/v1beta/models/m:generateContent?alt=sse&key=" + KEYS[1];
  const fromString = resolveClientIdentity(new Headers(), url, KEYS, "x");
  const fromUrl = resolveClientIdentity(new Headers(), new URL(url), KEYS, "x");
  assert.equal(fromString?.kind, "key");
  assert.deepEqual(fromString, fromUrl);
  assert.equal(
    resolveClientIdentity(new Headers(), "http://127.0.0.1/?monkey=1", KEYS, "x"),
    undefined,
  );
});
