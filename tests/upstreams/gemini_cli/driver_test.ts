import assert from "node:assert/strict";
import {
  GEMINI_CLI_CLIENT_ID,
  GEMINI_CLI_CLIENT_SECRET,
  geminiCliDriver,
} from "../../../src/upstreams/gemini_cli/driver.ts";
import {
  type Account,
  type DriverContext,
  type OAuthCredential,
  RefreshRejectedError,
} from "../../../src/accounts/types.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import { RequestError } from "../../../src/errors.ts";
import { discoverCodeAssistProject } from "../../../src/upstreams/gemini_cli/setup.ts";
import { startFakeCodeAssist } from "../../fakes/code_assist_upstream.ts";
import { startFakeGoogleOAuth } from "../../fakes/google_oauth_server.ts";

const FIXTURES = new URL("../../fixtures/gemini_cli/", import.meta.url);
const REFRESH = "1//fake-refresh-token";

async function fixture(name: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
}

function driverCtx(extra: Record<string, unknown> = {}, fetchImpl?: typeof fetch): DriverContext {
  return {
    provider: providerSchema.parse({ id: "gcli", type: "gemini-cli", timeout_ms: 5000, ...extra }),
    signal: new AbortController().signal,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  };
}

function cred(extra: Partial<OAuthCredential> = {}): OAuthCredential {
  return {
    kind: "oauth",
    access_token: "ya29.old-token-0123456789",
    refresh_token: REFRESH,
    expiry_date: 0,
    ...extra,
  };
}

function account(extra: Partial<Account> = {}): Account {
  return {
    id: "acc1",
    provider: "gcli",
    enabled: true,
    status: "active",
    credential: cred(),
    created_at: 0,
    updated_at: 0,
    ...extra,
  };
}

function rejectsWith(message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RequestError, `expected RequestError, got ${err}`);
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// parseCredential
// ---------------------------------------------------------------------------------------------

Deno.test("parseCredential: the CLI's oauth_creds.json", async () => {
  const c = geminiCliDriver.parseCredential(await fixture("oauth_creds.json"));
  assert.deepEqual(c, {
    kind: "oauth",
    access_token: "ya29.a0AfB_byFakeAccessTokenForTestsOnly0123456789",
    refresh_token: "1//0gFakeRefreshTokenForTestsOnly-abcdefghijklmnop",
    expiry_date: 1767225600000,
    token_type: "Bearer",
    scope:
      "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid",
    id_token:
      "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20ifQ.ZmFrZQ",
  });
  assert.equal(geminiCliDriver.type, "gemini-cli");
});

Deno.test("parseCredential: tolerant variants (ISO expiry, no expiry, no access token, JSON text, extra fields)", () => {
  const iso = geminiCliDriver.parseCredential({
    access_token: "ya29.x",
    refresh_token: "1//r",
    expiry: "2026-01-01T00:00:00Z",
    something_else: { nested: true },
  });
  assert.equal(iso.kind === "oauth" && iso.expiry_date, Date.parse("2026-01-01T00:00:00Z"));

  const none = geminiCliDriver.parseCredential({ access_token: "ya29.x", refresh_token: "1//r" });
  assert.equal(none.kind === "oauth" && none.expiry_date, 0);

  const noAccess = geminiCliDriver.parseCredential({
    refresh_token: "1//r",
    expiry_date: 1767225600000,
  });
  assert.deepEqual(noAccess, {
    kind: "oauth",
    access_token: "",
    refresh_token: "1//r",
    expiry_date: 0,
  });

  const text = geminiCliDriver.parseCredential(
    JSON.stringify({ access_token: "a", refresh_token: "1//r", expiry_date: "1767225600000" }),
  );
  assert.equal(text.kind === "oauth" && text.expiry_date, 1767225600000);

  const seconds = geminiCliDriver.parseCredential({
    access_token: "a",
    refresh_token: "1//r",
    expiry_date: 1767225600,
  });
  assert.equal(seconds.kind === "oauth" && seconds.expiry_date, 1767225600000);
});

Deno.test("parseCredential: malformed files → RequestError naming the field, no secrets echoed", () => {
  assert.throws(
    () => geminiCliDriver.parseCredential({ access_token: "ya29.secret-value-123" }),
    rejectsWith(/refresh_token is missing/),
  );
  assert.throws(
    () => geminiCliDriver.parseCredential({ access_token: "a", refresh_token: "" }),
    rejectsWith(/refresh_token is empty/),
  );
  assert.throws(
    () => geminiCliDriver.parseCredential({ access_token: 42, refresh_token: "1//r" }),
    rejectsWith(/access_token must be a string/),
  );
  assert.throws(
    () => geminiCliDriver.parseCredential({ refresh_token: "1//r", expiry_date: "soon" }),
    rejectsWith(/expiry_date must be a number/),
  );
  assert.throws(
    () =>
      geminiCliDriver.parseCredential({ access_token: "a", refresh_token: "1//r", expiry: "x" }),
    rejectsWith(/expiry must be an ISO 8601 date/),
  );
  assert.throws(() => geminiCliDriver.parseCredential("{not json"), rejectsWith(/not valid JSON/));
  assert.throws(() => geminiCliDriver.parseCredential([1, 2]), rejectsWith(/JSON object/));
  assert.throws(
    () =>
      geminiCliDriver.parseCredential({
        type: "service_account",
        private_key: "-----BEGIN PRIVATE KEY-----",
      }),
    rejectsWith(/service-account key; add it to a provider of type vertex/),
  );
  try {
    geminiCliDriver.parseCredential({ access_token: "ya29.secret-value-123", refresh_token: 7 });
    assert.fail("expected a RequestError");
  } catch (err) {
    assert.ok(err instanceof RequestError);
    assert.match(err.message, /refresh_token must be a string/);
    assert.doesNotMatch(err.message, /secret-value/);
  }
});

// ---------------------------------------------------------------------------------------------
// refresh
// ---------------------------------------------------------------------------------------------

Deno.test("refresh: form-encoded refresh_token grant with the CLI client; expiry from expires_in", async () => {
  const google = await startFakeGoogleOAuth({ refreshTokens: [REFRESH] });
  try {
    const before = Date.now();
    const result = await geminiCliDriver.refresh(cred(), driverCtx({ token_url: google.tokenUrl }));
    assert.equal(result.access_token, "ya29.fake-1");
    assert.ok(
      result.expiry_date >= before + 3599_000 && result.expiry_date <= Date.now() + 3599_000,
    );
    assert.equal(result.refresh_token, undefined, "Google does not rotate refresh tokens");
    assert.ok(result.id_token?.startsWith("ey"));
    assert.equal(google.refreshCalls, 1);
    assert.deepEqual(google.issued, ["ya29.fake-1"]);
    const req = google.requests[0];
    assert.equal(req.path, "/token");
    assert.equal(req.headers.get("content-type"), "application/x-www-form-urlencoded");
    assert.equal(req.form.get("grant_type"), "refresh_token");
    assert.equal(req.form.get("refresh_token"), REFRESH);
    assert.equal(req.form.get("client_id"), GEMINI_CLI_CLIENT_ID);
    assert.equal(req.form.get("client_secret"), GEMINI_CLI_CLIENT_SECRET);
  } finally {
    await google.close();
  }
});

Deno.test("refresh: provider client_id/client_secret override the defaults", async () => {
  const google = await startFakeGoogleOAuth({
    clientId: "my-client.apps.googleusercontent.com",
    clientSecret: "GOCSPX-mine",
    refreshTokens: [REFRESH],
  });
  try {
    const ctx = driverCtx({
      token_url: google.tokenUrl,
      client_id: "my-client.apps.googleusercontent.com",
      client_secret: "GOCSPX-mine",
    });
    const result = await geminiCliDriver.refresh(cred(), ctx);
    assert.equal(result.access_token, "ya29.fake-1");
    // With the default client the same fake refuses: invalid_client is a rejection.
    await assert.rejects(
      geminiCliDriver.refresh(cred(), driverCtx({ token_url: google.tokenUrl })),
      (err: unknown) => err instanceof RefreshRejectedError && /invalid_client/.test(err.message),
    );
  } finally {
    await google.close();
  }
});

Deno.test("refresh: a revoked refresh token → RefreshRejectedError with Google's description, no tokens", async () => {
  const google = await startFakeGoogleOAuth({ refreshTokens: [REFRESH] });
  try {
    google.revoke(REFRESH);
    await assert.rejects(
      geminiCliDriver.refresh(cred(), driverCtx({ token_url: google.tokenUrl })),
      (err: unknown) => {
        assert.ok(err instanceof RefreshRejectedError);
        assert.match(err.message, /invalid_grant/);
        assert.match(err.message, /Token has been expired or revoked\./);
        assert.doesNotMatch(err.message, /fake-refresh-token|ya29|GOCSPX/);
        return true;
      },
    );
  } finally {
    await google.close();
  }
});

Deno.test("refresh: 500 and unreachable endpoints → ordinary (retryable) errors", async () => {
  const google = await startFakeGoogleOAuth({ refreshTokens: [REFRESH] });
  try {
    google.setFailure(500);
    await assert.rejects(
      geminiCliDriver.refresh(cred(), driverCtx({ token_url: google.tokenUrl })),
      (err: unknown) => {
        assert.ok(err instanceof Error && !(err instanceof RefreshRejectedError));
        assert.match(err.message, /answered 500/);
        return true;
      },
    );
    google.setFailure(undefined);
    assert.equal(
      (await geminiCliDriver.refresh(cred(), driverCtx({ token_url: google.tokenUrl })))
        .access_token,
      "ya29.fake-1",
    );
  } finally {
    await google.close();
  }
  // The port is closed now: a network failure.
  await assert.rejects(
    geminiCliDriver.refresh(cred(), driverCtx({ token_url: google.tokenUrl })),
    (err: unknown) =>
      err instanceof Error && !(err instanceof RefreshRejectedError) &&
      /unreachable/.test(err.message),
  );
});

Deno.test("refresh: a new refresh token, when Google sends one, is returned", async () => {
  const fakeFetch: typeof fetch = () =>
    Promise.resolve(Response.json({
      access_token: "ya29.rotated",
      expires_in: "3599",
      refresh_token: "1//new-refresh",
      token_type: "Bearer",
    }));
  const result = await geminiCliDriver.refresh(cred(), driverCtx({}, fakeFetch));
  assert.equal(result.refresh_token, "1//new-refresh");
  assert.equal(result.access_token, "ya29.rotated");
});

Deno.test("refresh: the client's abort cancels the request", async () => {
  const google = await startFakeGoogleOAuth({ refreshTokens: [REFRESH] });
  try {
    google.setDelay(300);
    const controller = new AbortController();
    const ctx = { ...driverCtx({ token_url: google.tokenUrl }), signal: controller.signal };
    const pending = geminiCliDriver.refresh(cred(), ctx);
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, /cancelled/);
  } finally {
    await google.close();
  }
});

// ---------------------------------------------------------------------------------------------
// prepare (project discovery)
// ---------------------------------------------------------------------------------------------

Deno.test("prepare: an onboarded user gets the project from loadCodeAssist", async () => {
  const ca = await startFakeCodeAssist({ validTokens: ["ya29.ok"], managedProject: "proj-1" });
  try {
    const out = await geminiCliDriver.prepare!(
      account(),
      "ya29.ok",
      driverCtx({ base_url: ca.url }),
    );
    assert.deepEqual(out, { project_id: "proj-1" });
    assert.equal(ca.loadCalls, 1);
    assert.equal(ca.onboardCalls, 0);
    const req = ca.requests[0];
    assert.equal(req.path, "/v1internal:loadCodeAssist");
    assert.equal(req.headers.get("authorization"), "Bearer ya29.ok");
    assert.match(req.headers.get("user-agent") ?? "", /^GeminiCLI\/[\d.]+ \(\w+; \w+; terminal\)$/);
    assert.deepEqual(req.body, {
      metadata: {
        ideType: "IDE_UNSPECIFIED",
        platform: "PLATFORM_UNSPECIFIED",
        pluginType: "GEMINI",
      },
    });
  } finally {
    await ca.close();
  }
});

Deno.test("prepare: a new user is onboarded to the default free tier (LRO polled by name)", async () => {
  const ca = await startFakeCodeAssist({
    validTokens: ["ya29.ok"],
    onboarded: false,
    managedProject: "managed-9",
  });
  try {
    const out = await geminiCliDriver.prepare!(
      account(),
      "ya29.ok",
      driverCtx({ base_url: ca.url }),
    );
    assert.deepEqual(out, { project_id: "managed-9" });
    assert.equal(ca.loadCalls, 1);
    assert.equal(ca.onboardCalls, 1);
    assert.equal(ca.operationCalls, 1);
    const onboard = ca.requests.find((r) => r.path === "/v1internal:onboardUser");
    assert.deepEqual(onboard?.body, {
      tierId: "free-tier",
      metadata: {
        ideType: "IDE_UNSPECIFIED",
        platform: "PLATFORM_UNSPECIFIED",
        pluginType: "GEMINI",
      },
    });
    const poll = ca.requests.at(-1);
    assert.equal(poll?.method, "GET");
    assert.equal(poll?.path, "/v1internal/operations/onboard-fake-0001");
  } finally {
    await ca.close();
  }
});

Deno.test("prepare: an unnamed LRO is polled by sending onboardUser again", async () => {
  const ca = await startFakeCodeAssist({
    validTokens: ["ya29.ok"],
    onboarded: false,
    operationName: false,
  });
  try {
    const out = await geminiCliDriver.prepare!(
      account(),
      "ya29.ok",
      driverCtx({ base_url: ca.url }),
    );
    assert.deepEqual(out, { project_id: "fake-managed-project-12345" });
    assert.equal(ca.onboardCalls, 2);
    assert.equal(ca.operationCalls, 0);
  } finally {
    await ca.close();
  }
});

Deno.test("prepare: standard tier onboards with the configured project (duetProject too)", async () => {
  const ca = await startFakeCodeAssist({
    validTokens: ["ya29.ok"],
    onboarded: false,
    defaultTier: "standard-tier",
  });
  try {
    const ctx = driverCtx({ base_url: `${ca.url}/v1internal/`, project_id: "my-gcp-project" });
    const out = await geminiCliDriver.prepare!(account(), "ya29.ok", ctx);
    assert.deepEqual(out, { project_id: "my-gcp-project" });
    const load = ca.requests[0];
    assert.equal(load.path, "/v1internal:loadCodeAssist", "a base ending in /v1internal works");
    assert.equal(load.body.cloudaicompanionProject, "my-gcp-project");
    const onboard = ca.requests.find((r) => r.path === "/v1internal:onboardUser");
    assert.deepEqual(onboard?.body, {
      tierId: "standard-tier",
      cloudaicompanionProject: "my-gcp-project",
      metadata: {
        ideType: "IDE_UNSPECIFIED",
        platform: "PLATFORM_UNSPECIFIED",
        pluginType: "GEMINI",
        duetProject: "my-gcp-project",
      },
    });
  } finally {
    await ca.close();
  }
});

Deno.test("prepare: a project the user set wins; nothing is called", async () => {
  let calls = 0;
  const fakeFetch: typeof fetch = () => {
    calls++;
    return Promise.resolve(new Response("{}"));
  };
  const out = await geminiCliDriver.prepare!(
    account({ project_id: "users-own", project_from_user: true }),
    "ya29.ok",
    driverCtx({}, fakeFetch),
  );
  assert.deepEqual(out, { project_id: "users-own" });
  assert.equal(calls, 0);
});

Deno.test("prepare: fixture bodies (pending LRO without done, project as {id})", async () => {
  const seen: string[] = [];
  const bodies: Record<string, unknown> = {
    "/v1internal:loadCodeAssist": await fixture("load_code_assist_new_user.json"),
    "/v1internal:onboardUser": await fixture("onboard_user_pending.json"),
    "/v1internal/operations/onboard-b3c4d5e6": await fixture("onboard_user_done.json"),
  };
  const fakeFetch: typeof fetch = (input) => {
    const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
    seen.push(path);
    return Promise.resolve(
      Response.json(bodies[path] ?? {}, { status: path in bodies ? 200 : 404 }),
    );
  };
  const out = await geminiCliDriver.prepare!(
    account(),
    "ya29.ok",
    driverCtx({ base_url: "https://ca.example" }, fakeFetch),
  );
  assert.deepEqual(out, { project_id: "wise-cider-abc12" });
  assert.deepEqual(seen, [
    "/v1internal:loadCodeAssist",
    "/v1internal:onboardUser",
    "/v1internal/operations/onboard-b3c4d5e6",
  ]);
});

Deno.test("prepare: no tiers at all → legacy-tier needs a project; validation and 401 are clear errors", async () => {
  const reply = (body: unknown, status = 200): typeof fetch => () =>
    Promise.resolve(Response.json(body, { status }));

  // No allowed tiers, no project: gemini-cli's legacy-tier path, and nothing to fall back to.
  const legacyNoProject: typeof fetch = (input) => {
    const path = new URL(String(input)).pathname;
    return Promise.resolve(Response.json(
      path.endsWith(":onboardUser") ? { done: true, response: {} } : { allowedTiers: [] },
    ));
  };
  await assert.rejects(
    geminiCliDriver.prepare!(account(), "ya29.ok", driverCtx({}, legacyNoProject)),
    /needs a Google Cloud project: set project_id/,
  );

  await assert.rejects(
    geminiCliDriver.prepare!(
      account(),
      "ya29.ok",
      driverCtx(
        {},
        reply({
          ineligibleTiers: [{
            reasonCode: "VALIDATION_REQUIRED",
            reasonMessage: "Verify your account to continue.",
            validationUrl: "https://accounts.google.com/signin/continue?x=1",
          }],
        }),
      ),
    ),
    /account validation.*Verify your account.*https:\/\/accounts\.google\.com/,
  );

  await assert.rejects(
    geminiCliDriver.prepare!(
      account(),
      "ya29.secret-token-value",
      driverCtx(
        {},
        reply({
          error: {
            code: 401,
            status: "UNAUTHENTICATED",
            message: "Bad token ya29.secret-token-value",
          },
        }, 401),
      ),
    ),
    (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /loadCodeAssist answered 401 UNAUTHENTICATED/);
      assert.doesNotMatch(err.message, /secret-token-value/);
      return true;
    },
  );
});

Deno.test("prepare: an onboarding that never finishes gives up after 10 checks", async () => {
  let onboards = 0;
  const never: typeof fetch = (input) => {
    const path = new URL(String(input)).pathname;
    if (path.endsWith(":onboardUser")) onboards++;
    return Promise.resolve(Response.json(
      path.endsWith(":loadCodeAssist")
        ? { allowedTiers: [{ id: "free-tier", isDefault: true }] }
        : { done: false },
    ));
  };
  await assert.rejects(
    discoverCodeAssistProject({
      provider: driverCtx().provider,
      accessToken: "ya29.ok",
      signal: new AbortController().signal,
      fetch: never,
      pollDelaysMs: [1],
    }),
    /did not finish after 10 checks/,
  );
  assert.equal(onboards, 10);
});
