import assert from "node:assert/strict";
import { QWEN_CLIENT_ID, qwenDriver } from "../../../src/upstreams/qwen/driver.ts";
import {
  type DriverContext,
  type OAuthCredential,
  RefreshRejectedError,
} from "../../../src/accounts/types.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import { RequestError } from "../../../src/errors.ts";
import { FAKE_QWEN_CLIENT_ID, type FakeQwen, startFakeQwen } from "../../fakes/qwen_upstream.ts";

function driverCtx(extra: Record<string, unknown> = {}, fetchImpl?: typeof fetch): DriverContext {
  return {
    provider: providerSchema.parse({ id: "qw", type: "qwen", timeout_ms: 5000, ...extra }),
    signal: new AbortController().signal,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  };
}

async function withFake(fn: (fake: FakeQwen) => Promise<void>): Promise<void> {
  const fake = await startFakeQwen();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

function credFor(pair: { access_token: string; refresh_token: string }): OAuthCredential {
  return { kind: "oauth", ...pair, expiry_date: 0, resource_url: "portal.qwen.ai" };
}

const FILE = {
  access_token: "qwen-access-0123456789abcdef",
  refresh_token: "qwen-refresh-0123456789abcdef",
  token_type: "Bearer",
  resource_url: "portal.qwen.ai",
  expiry_date: 1_900_000_000_000,
};

function rejectsWith(message: RegExp, secrets: string[] = []): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RequestError, `expected RequestError, got ${err}`);
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    for (const s of secrets) assert.ok(!err.message.includes(s), "message echoes a secret");
    return true;
  };
}

Deno.test("qwen parseCredential: oauth_creds.json → OAuth credential (object or text)", () => {
  const expected: OAuthCredential = { kind: "oauth", ...FILE };
  assert.deepEqual(qwenDriver.parseCredential(FILE), expected);
  assert.deepEqual(qwenDriver.parseCredential(JSON.stringify(FILE)), expected);
  // Without an expiry the token counts as expired, so the first use refreshes it.
  const { expiry_date: _e, resource_url: _r, ...minimal } = FILE;
  assert.deepEqual(qwenDriver.parseCredential(minimal), {
    kind: "oauth",
    access_token: FILE.access_token,
    refresh_token: FILE.refresh_token,
    token_type: "Bearer",
    expiry_date: 0,
  });
  assert.equal(qwenDriver.type, "qwen");
});

Deno.test("qwen parseCredential: malformed files name the field, never the value", () => {
  assert.throws(
    () => qwenDriver.parseCredential({ ...FILE, refresh_token: undefined }),
    rejectsWith(/refresh_token: expected a string/),
  );
  assert.throws(
    () => qwenDriver.parseCredential({ ...FILE, access_token: "  " }),
    rejectsWith(/access_token: must not be empty/),
  );
  assert.throws(
    () => qwenDriver.parseCredential({ ...FILE, expiry_date: "tomorrow" }),
    rejectsWith(/expiry_date: expected milliseconds/, ["tomorrow"]),
  );
  assert.throws(
    () => qwenDriver.parseCredential({ ...FILE, resource_url: "ftp://user:pw@evil.example/x" }),
    rejectsWith(/resource_url: expected a host name/, ["evil.example", "pw"]),
  );
  assert.throws(() => qwenDriver.parseCredential("{not json"), rejectsWith(/not JSON/));
  assert.throws(() => qwenDriver.parseCredential(null), rejectsWith(/Invalid Qwen credential/));
});

Deno.test("qwen refresh: form POST with the CLI client; the rotated refresh token comes back", async () => {
  await withFake(async (fake) => {
    const pair = fake.issue();
    const ctx = driverCtx({ token_url: fake.tokenUrl });
    const before = Date.now();
    const result = await qwenDriver.refresh(credFor(pair), ctx);

    const form = fake.tokenRequests[0];
    assert.equal(form.get("grant_type"), "refresh_token");
    assert.equal(form.get("refresh_token"), pair.refresh_token);
    assert.equal(form.get("client_id"), QWEN_CLIENT_ID);
    assert.equal(QWEN_CLIENT_ID, FAKE_QWEN_CLIENT_ID);

    assert.ok(result.refresh_token, "the new refresh token must be returned");
    assert.notEqual(result.refresh_token, pair.refresh_token);
    assert.notEqual(result.access_token, pair.access_token);
    assert.ok(fake.isValidRefreshToken(result.refresh_token));
    assert.ok(!fake.isValidRefreshToken(pair.refresh_token), "the old one is dead");
    assert.equal(result.resource_url, fake.url);
    assert.ok(
      result.expiry_date >= before + 21600_000 && result.expiry_date <= Date.now() + 21600_000,
    );

    // The next refresh must use the rotated token; the old one is refused for good.
    const again = await qwenDriver.refresh(
      credFor({ access_token: result.access_token, refresh_token: result.refresh_token }),
      ctx,
    );
    assert.ok(again.refresh_token && again.refresh_token !== result.refresh_token);
    await assert.rejects(
      () => qwenDriver.refresh(credFor(pair), ctx),
      (err: unknown) => {
        assert.ok(err instanceof RefreshRejectedError);
        assert.match(err.message, /400 invalid_grant: Invalid refresh token/);
        assert.ok(!err.message.includes(pair.refresh_token));
        return true;
      },
    );
    assert.equal(fake.refreshCount, 2);
  });
});

Deno.test("qwen refresh: client_id override; a wrong client is a rejection (401 invalid_client)", async () => {
  await withFake(async (fake) => {
    const pair = fake.issue();
    await assert.rejects(
      () =>
        qwenDriver.refresh(
          credFor(pair),
          driverCtx({ token_url: fake.tokenUrl, client_id: "someone-else" }),
        ),
      (err: unknown) =>
        err instanceof RefreshRejectedError && /401 invalid_client/.test(err.message),
    );
    assert.equal(fake.tokenRequests[0].get("client_id"), "someone-else");
  });
});

Deno.test("qwen refresh: revoked tokens → RefreshRejectedError; 5xx and network → ordinary Error", async () => {
  await withFake(async (fake) => {
    const pair = fake.issue();
    fake.revokeAll();
    await assert.rejects(
      () => qwenDriver.refresh(credFor(pair), driverCtx({ token_url: fake.tokenUrl })),
      RefreshRejectedError,
    );
  });
  const secret = "qwen-rt-secret-0123456789";
  const failing = (status: number, body: string): typeof fetch => () =>
    Promise.resolve(new Response(body, { status }));
  const cred = credFor({ access_token: "qwen-at-x-0123456789", refresh_token: secret });
  await assert.rejects(
    () => qwenDriver.refresh(cred, driverCtx({}, failing(503, `busy ${secret}`))),
    (err: unknown) => {
      assert.ok(err instanceof Error && !(err instanceof RefreshRejectedError));
      assert.match(err.message, /503/);
      assert.ok(!err.message.includes(secret), "the refresh token must be masked");
      return true;
    },
  );
  await assert.rejects(
    () =>
      qwenDriver.refresh(
        cred,
        driverCtx({}, () => Promise.reject(new TypeError("connection refused"))),
      ),
    (err: unknown) =>
      err instanceof Error && !(err instanceof RefreshRejectedError) &&
      /unreachable/.test(err.message),
  );
  // 200 without an access token is not a success.
  await assert.rejects(
    () => qwenDriver.refresh(cred, driverCtx({}, failing(200, "{}"))),
    /no access_token/,
  );
});

Deno.test("qwen refresh: bounded by timeout_ms and cancelled by the signal", async () => {
  await withFake(async (fake) => {
    fake.tokenDelayMs = 500;
    const pair = fake.issue();
    await assert.rejects(
      () =>
        qwenDriver.refresh(
          credFor(pair),
          driverCtx({ token_url: fake.tokenUrl, timeout_ms: 50 }),
        ),
      /did not answer within 50 ms/,
    );
    const controller = new AbortController();
    const pending = qwenDriver.refresh(credFor(pair), {
      ...driverCtx({ token_url: fake.tokenUrl }),
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(() => pending, /cancelled/);
    // Let the fake's delayed answers finish before the server shuts down.
    await new Promise((r) => setTimeout(r, 550));
  });
});

Deno.test("qwen refresh: an explicit error in a 200 answer; resource_url from the answer is checked", async () => {
  const cred = credFor({ access_token: "qwen-at-0123456789", refresh_token: "qwen-rt-0123456789" });
  const answering = (body: unknown): typeof fetch => () => Promise.resolve(Response.json(body));
  await assert.rejects(
    () => qwenDriver.refresh(cred, driverCtx({}, answering({ error: "invalid_grant" }))),
    RefreshRejectedError,
  );
  const result = await qwenDriver.refresh(
    cred,
    driverCtx(
      {},
      answering({
        access_token: "new-at",
        refresh_token: "new-rt",
        resource_url: "javascript:alert(1)",
      }),
    ),
  );
  assert.equal(result.resource_url, undefined, "an unusable resource_url is dropped");
  assert.equal(result.refresh_token, "new-rt");
  // No expires_in: a default lifetime rather than losing the rotated token.
  assert.ok(result.expiry_date > Date.now() + 3000_000);
});

Deno.test("qwen refresh: refuses a non-OAuth credential", async () => {
  await assert.rejects(
    () =>
      qwenDriver.refresh(
        {
          kind: "service_account",
          client_email: "a@b",
          private_key: "",
          private_key_id: "k",
          project_id: "p",
          token_uri: "https://x",
        },
        driverCtx(),
      ),
    /needs an OAuth credential/,
  );
});
