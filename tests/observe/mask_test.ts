import assert from "node:assert/strict";
import { maskSecret, maskSecretsInText } from "../../src/observe/mask.ts";

Deno.test("maskSecret keeps 5 leading and 4 trailing characters of long secrets", () => {
  assert.equal(maskSecret("sk-abcdef123456"), "sk-ab****3456");
  assert.equal(maskSecret("abcdefghijklm"), "abcde****jklm");
  const long = "sk-proj-" + "x".repeat(40) + "TAIL";
  assert.equal(maskSecret(long), "sk-pr****TAIL");
});

Deno.test("maskSecret shows only 2+2 characters of 9..12 character secrets", () => {
  assert.equal(maskSecret("abcdefghi"), "ab****hi");
  assert.equal(maskSecret("abcdefghijkl"), "ab****kl");
});

Deno.test("maskSecret masks short secrets fully", () => {
  for (const s of ["", "a", "abcd", "abcdefgh"]) assert.equal(maskSecret(s), "****", s);
});

Deno.test("maskSecret never returns the secret or most of it", () => {
  for (let n = 1; n <= 64; n++) {
    const secret = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const masked = maskSecret(secret);
    assert.notEqual(masked, secret);
    assert.ok(masked.includes("****"));
    const visible = masked.replace("****", "").length;
    assert.ok(visible <= 9, `length ${n} shows ${visible}`);
    if (n <= 12) assert.ok(visible <= n / 2, `length ${n} shows ${visible}`);
  }
});

Deno.test("maskSecretsInText masks Bearer tokens and keeps the scheme", () => {
  assert.equal(
    maskSecretsInText("Authorization: Bearer abcdefghijklmnop123"),
    "Authorization: Bearer abcde****p123",
  );
  assert.equal(maskSecretsInText("Bearer short7"), "Bearer short7", "under 8 chars is no token");
  assert.equal(maskSecretsInText("Bearer abc.def_ghi~jk+l/m="), "Bearer abc.d****l/m=");
});

Deno.test("maskSecretsInText masks every occurrence of a known secret", () => {
  const out = maskSecretsInText("k=secret-value-1234; again secret-value-1234", [
    "secret-value-1234",
  ]);
  assert.equal(out, "k=secre****1234; again secre****1234");
});

Deno.test("maskSecretsInText masks an sk- token that follows Bearer without throwing", () => {
  assert.equal(maskSecretsInText("Bearer sk-abcdef123456"), "Bearer sk-ab****3456");
});

Deno.test("maskSecretsInText leaves ordinary text alone", () => {
  for (
    const text of [
      "model gpt-4o not found",
      "task-runner and desk-top",
      "The Bearer of bad news",
      "sk-short",
      "",
    ]
  ) {
    assert.equal(maskSecretsInText(text), text);
  }
});

Deno.test("maskSecretsInText masks known secrets of any shape", () => {
  const known = ["upstream-custom-key-987654", "tok12345"];
  const text = "sent upstream-custom-key-987654 and tok12345 to upstream";
  const out = maskSecretsInText(text, known);
  assert.equal(out, "sent upstr****7654 and **** to upstream");
  for (const k of known) assert.ok(!out.includes(k));
  // Secrets shorter than 4 characters are ignored (they would mask ordinary words).
  assert.equal(maskSecretsInText("a abc b", ["abc"]), "a abc b");
  // Known secrets are literal, not patterns.
  assert.equal(maskSecretsInText("x a.b+c*d(e) y", ["a.b+c*d(e)"]), "x a.****e) y");
});

Deno.test("maskSecretsInText accepts any iterable of known secrets", () => {
  const out = maskSecretsInText("key=my-secret-value-xyz", new Set(["my-secret-value-xyz"]));
  assert.equal(out, "key=my-se****-xyz");
});

Deno.test({
  name: "maskSecretsInText masks sk- keys, AIza keys, ya29 tokens and gsk_ keys",
  fn() {
    assert.equal(
      maskSecretsInText("Incorrect API key provided: sk-proj-abcdefghijklmnop."),
      "Incorrect API key provided: sk-pr****mnop.",
    );
    assert.equal(maskSecretsInText("key sk-abcdef123456 bad"), "key sk-ab****3456 bad");
    const aiza = "AIzaSyA1234567890abcdefghijklmnop";
    assert.equal(maskSecretsInText(`?key=${aiza}&alt=sse`), `?key=${maskSecret(aiza)}&alt=sse`);
    assert.ok(!maskSecretsInText(`?key=${aiza}`).includes(aiza));
    const ya29 = "ya29.a0AfH6SMBxxxxxxxxxxxxxxxx";
    assert.equal(maskSecretsInText(`token ${ya29}`), `token ${maskSecret(ya29)}`);
    const gsk = "gsk_ABCDEFGHIJKLMNOP1234";
    assert.equal(maskSecretsInText(`groq ${gsk}`), `groq ${maskSecret(gsk)}`);
  },
});

Deno.test({
  name: "maskSecretsInText masks every occurrence of a pattern key",
  fn() {
    const out = maskSecretsInText(
      "sk-aaaaaaaaaaaa1111 then sk-bbbbbbbbbbbb2222 and sk-aaaaaaaaaaaa1111",
    );
    assert.equal(out, "sk-aa****1111 then sk-bb****2222 and sk-aa****1111");
  },
});

Deno.test({
  name: "maskSecretsInText masks bearer tokens whatever the scheme's case",
  fn() {
    assert.equal(
      maskSecretsInText("authorization: bearer client-token-0123456789"),
      "authorization: bearer clien****6789",
    );
    assert.equal(maskSecretsInText("BEARER client-token-0123456789"), "BEARER clien****6789");
  },
});
