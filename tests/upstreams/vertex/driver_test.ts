import assert from "node:assert/strict";
import {
  cachedKeyCount,
  importRs256Key,
  pkcs8FromPem,
} from "../../../src/upstreams/vertex/google_jwt.ts";
import {
  CLOUD_PLATFORM_SCOPE,
  GOOGLE_TOKEN_URL,
  vertexDriver,
} from "../../../src/upstreams/vertex/driver.ts";
import {
  type DriverContext,
  RefreshRejectedError,
  type ServiceAccountCredential,
} from "../../../src/accounts/types.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import { RequestError } from "../../../src/errors.ts";
import {
  createTestServiceAccount,
  type FakeVertex,
  startFakeVertex,
  type TestServiceAccount,
} from "../../fakes/vertex_upstream.ts";

function driverCtx(extra: Record<string, unknown> = {}, fetchImpl?: typeof fetch): DriverContext {
  return {
    provider: providerSchema.parse({ id: "vx", type: "vertex", timeout_ms: 5000, ...extra }),
    signal: new AbortController().signal,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  };
}

async function withFake(fn: (fake: FakeVertex) => Promise<void>): Promise<void> {
  const fake = await startFakeVertex();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

function parse(sa: TestServiceAccount): ServiceAccountCredential {
  const c = vertexDriver.parseCredential(sa.keyFile);
  assert.equal(c.kind, "service_account");
  return c as ServiceAccountCredential;
}

// One key pair for the offline tests: RSA generation is the slow part.
const offline = await createTestServiceAccount({ tokenUri: GOOGLE_TOKEN_URL });

function rejectsWith(message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RequestError, `expected RequestError, got ${err}`);
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    const body = offline.keyFile.private_key.split("\n")[1];
    assert.ok(!err.message.includes(body.slice(0, 20)), "the key must never be echoed");
    return true;
  };
}

Deno.test("vertex parseCredential: a Google key file → service-account credential", () => {
  const c = parse(offline);
  assert.deepEqual(c, {
    kind: "service_account",
    client_email: offline.keyFile.client_email,
    private_key: offline.keyFile.private_key.trim(),
    private_key_id: offline.keyFile.private_key_id,
    project_id: "fake-project-123",
    token_uri: GOOGLE_TOKEN_URL,
  });
  assert.equal(vertexDriver.type, "vertex");
  // The file's text works too; a key pasted with literal "\n" escapes is repaired.
  assert.deepEqual(vertexDriver.parseCredential(JSON.stringify(offline.keyFile)), c);
  const escaped = {
    ...offline.keyFile,
    private_key: offline.keyFile.private_key.replaceAll("\n", "\\n"),
  };
  assert.deepEqual(vertexDriver.parseCredential(escaped), c);
  // token_uri missing: Google's endpoint.
  const { token_uri: _t, ...noUri } = offline.keyFile;
  assert.equal(
    (vertexDriver.parseCredential(noUri) as ServiceAccountCredential).token_uri,
    GOOGLE_TOKEN_URL,
  );
});

Deno.test("vertex parseCredential: wrong type, missing fields and bad PEMs are clear RequestErrors", () => {
  const k = offline.keyFile;
  assert.throws(
    () => vertexDriver.parseCredential({ ...k, type: "authorized_user" }),
    rejectsWith(/type: expected "service_account"/),
  );
  assert.throws(
    () => vertexDriver.parseCredential({ ...k, client_email: undefined }),
    rejectsWith(/client_email: expected a string/),
  );
  assert.throws(
    () => vertexDriver.parseCredential({ ...k, project_id: "" }),
    rejectsWith(/project_id: must not be empty/),
  );
  assert.throws(
    () => vertexDriver.parseCredential({ ...k, private_key: "hello" }),
    rejectsWith(/private_key is not a PEM private key/),
  );
  assert.throws(
    () =>
      vertexDriver.parseCredential({
        ...k,
        private_key: k.private_key.replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY"),
      }),
    rejectsWith(/PKCS#1/),
  );
  // Valid base64, but not a PKCS#8 RSA key.
  const notRsa = `-----BEGIN PRIVATE KEY-----\n${btoa("x".repeat(120))}\n-----END PRIVATE KEY-----`;
  assert.throws(
    () => vertexDriver.parseCredential({ ...k, private_key: notRsa }),
    rejectsWith(/not a PKCS#8 RSA private key/),
  );
  const lines = k.private_key.split("\n");
  lines[3] = "!!!!" + lines[3].slice(4);
  assert.throws(
    () => vertexDriver.parseCredential({ ...k, private_key: lines.join("\n") }),
    rejectsWith(/not valid base64/),
  );
  assert.throws(() => vertexDriver.parseCredential("nope"), rejectsWith(/not JSON/));
});

Deno.test("vertex refresh: RS256 JWT verified by the fake → access token", async () => {
  await withFake(async (fake) => {
    const sa = await fake.createServiceAccount({ projectId: "proj-a" });
    const before = Date.now();
    const result = await vertexDriver.refresh(parse(sa), driverCtx());
    assert.match(result.access_token, /^ya29\.c\.fake-/);
    assert.ok(
      result.expiry_date >= before + 3599_000 && result.expiry_date <= Date.now() + 3599_000,
    );
    assert.equal(result.refresh_token, undefined);

    const { header, claims } = fake.verified[0];
    assert.deepEqual(header, { alg: "RS256", typ: "JWT", kid: sa.keyFile.private_key_id });
    assert.equal(claims.iss, sa.keyFile.client_email);
    assert.equal(claims.scope, CLOUD_PLATFORM_SCOPE);
    assert.equal(claims.aud, fake.tokenUrl);
    assert.equal((claims.exp as number) - (claims.iat as number), 3600);
    assert.ok(Math.abs((claims.iat as number) - Date.now() / 1000) < 5);
  });
});

Deno.test("vertex refresh: provider.token_url overrides token_uri and becomes the audience", async () => {
  await withFake(async (fake) => {
    const sa = await fake.createServiceAccount();
    const cred = { ...parse(sa), token_uri: "https://oauth2.googleapis.com/token" };
    await vertexDriver.refresh(cred, driverCtx({ token_url: fake.tokenUrl }));
    assert.equal(fake.verified[0].claims.aud, fake.tokenUrl);
  });
});

Deno.test("vertex refresh: a deleted key → RefreshRejectedError; a key the fake never saw too", async () => {
  await withFake(async (fake) => {
    const sa = await fake.createServiceAccount();
    await vertexDriver.refresh(parse(sa), driverCtx());
    fake.revokeKey(sa.keyFile.private_key_id);
    await assert.rejects(
      () => vertexDriver.refresh(parse(sa), driverCtx()),
      (err: unknown) => {
        assert.ok(err instanceof RefreshRejectedError);
        assert.match(err.message, /400 invalid_grant: Invalid JWT Signature/);
        return true;
      },
    );
    // Right kid, wrong private key: the signature check fails.
    const impostor = await createTestServiceAccount({ tokenUri: fake.tokenUrl });
    const other = await fake.createServiceAccount();
    const forged = { ...parse(other), private_key: parse(impostor).private_key };
    await assert.rejects(() => vertexDriver.refresh(forged, driverCtx()), RefreshRejectedError);
    assert.equal(fake.verified.length, 1);
  });
});

Deno.test("vertex refresh: clock-skew invalid_grant, 5xx and network failures are ordinary errors", async () => {
  const cred = parse(offline);
  const answer = (status: number, body: unknown): typeof fetch => () =>
    Promise.resolve(Response.json(body, { status }));
  await assert.rejects(
    () =>
      vertexDriver.refresh(
        cred,
        driverCtx(
          {},
          answer(400, {
            error: "invalid_grant",
            error_description:
              "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
          }),
        ),
      ),
    (err: unknown) => err instanceof Error && !(err instanceof RefreshRejectedError),
  );
  await assert.rejects(
    () =>
      vertexDriver.refresh(
        cred,
        driverCtx({}, answer(401, { error: "invalid_client", error_description: "disabled" })),
      ),
    RefreshRejectedError,
  );
  await assert.rejects(
    () => vertexDriver.refresh(cred, driverCtx({}, answer(503, { error: "backend_error" }))),
    (err: unknown) =>
      err instanceof Error && !(err instanceof RefreshRejectedError) && /503/.test(err.message),
  );
  await assert.rejects(
    () => vertexDriver.refresh(cred, driverCtx({}, () => Promise.reject(new TypeError("refused")))),
    /unreachable/,
  );
  // The request the driver sends: the JWT bearer grant, form-encoded, to token_uri.
  let seen: { url: string; body: string; type: string | null } | undefined;
  await vertexDriver.refresh(
    cred,
    driverCtx({}, async (input, init) => {
      const req = new Request(input, init);
      seen = { url: req.url, body: await req.text(), type: req.headers.get("content-type") };
      return Response.json({ access_token: "ya29.minted-0123456789", expires_in: 3599 });
    }),
  );
  assert.equal(seen?.url, GOOGLE_TOKEN_URL);
  assert.equal(seen?.type, "application/x-www-form-urlencoded");
  const form = new URLSearchParams(seen?.body);
  assert.equal(form.get("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  assert.equal(form.get("assertion")?.split(".").length, 3);
});

Deno.test("google_jwt: imported keys are cached per key id and re-imported when the PEM changes", async () => {
  const pem = parse(offline).private_key;
  const a = await importRs256Key(pem, "cache-test-kid");
  const b = await importRs256Key(pem, "cache-test-kid");
  assert.equal(a, b, "the same CryptoKey object is reused");
  const other = await createTestServiceAccount({ tokenUri: GOOGLE_TOKEN_URL });
  const c = await importRs256Key(other.keyFile.private_key, "cache-test-kid");
  assert.notEqual(c, a);
  assert.ok(cachedKeyCount() >= 1 && cachedKeyCount() <= 64);
  assert.throws(() => pkcs8FromPem("-----BEGIN ENCRYPTED PRIVATE KEY-----"), /encrypted/);
});

Deno.test("vertex refresh: refuses a non-service-account credential", async () => {
  await assert.rejects(
    () =>
      vertexDriver.refresh(
        { kind: "oauth", access_token: "a", refresh_token: "r", expiry_date: 0 },
        driverCtx(),
      ),
    /needs a service-account credential/,
  );
});
