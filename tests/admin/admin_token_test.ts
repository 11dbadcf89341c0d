import assert from "node:assert/strict";
import { requireAdminToken } from "../../src/admin/admin_token.ts";
import { GatewayError } from "../../src/errors.ts";

function refusal(header: string | undefined, token: string | undefined): [number, string?] {
  try {
    requireAdminToken(header, token);
    return [200];
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    return [err.status, err.code];
  }
}

Deno.test("admin token: 403 while none is set, 401 unless the bearer matches exactly", () => {
  assert.deepEqual(refusal("Bearer anything", undefined), [403, "admin_disabled"]);
  assert.deepEqual(refusal("Bearer anything", ""), [403, "admin_disabled"]);
  assert.deepEqual(refusal(undefined, "s3cret"), [401, "invalid_admin_token"]);
  assert.deepEqual(refusal("s3cret", "s3cret"), [401, "invalid_admin_token"]);
  assert.deepEqual(refusal("Bearer s3cre", "s3cret"), [401, "invalid_admin_token"]);
  assert.deepEqual(refusal("Bearer s3cret2", "s3cret"), [401, "invalid_admin_token"]);
  assert.deepEqual(refusal("Basic s3cret", "s3cret"), [401, "invalid_admin_token"]);
  assert.deepEqual(refusal("Bearer s3cret", "s3cret"), [200]);
  assert.deepEqual(refusal("bearer  s3cret ", "s3cret"), [200]);
});
