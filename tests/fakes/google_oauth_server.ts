/**
 * A fake Google OAuth 2.0 token endpoint on 127.0.0.1 (ephemeral port) answering as
 * `https://oauth2.googleapis.com/token` does: `POST /token`, form-encoded.
 * - `grant_type=refresh_token` with the right client and a known refresh token →
 *   `{access_token: "ya29.fake-<n>", expires_in: 3599, scope, token_type: "Bearer", id_token}`
 * - an unknown or revoked refresh token → 400 `invalid_grant` "Token has been expired or revoked."
 * - an unknown client → 401 `invalid_client`; a wrong secret → 401 `invalid_client` too
 * - a body that is not form-encoded, or no grant → 400 `invalid_request`; another grant →
 *   400 `unsupported_grant_type`
 * Faults: `setDelay(ms)` holds answers (for single-flight tests), `setFailure(500)` answers
 * 500 until cleared.
 */

export interface FakeGoogleOAuthOptions {
  clientId?: string;
  clientSecret?: string;
  /** Refresh tokens the fake accepts. */
  refreshTokens?: string[];
  scope?: string;
  /** Called with each issued access token (e.g. to make the Code Assist fake accept it). */
  onIssue?: (accessToken: string) => void;
}

export interface RecordedTokenRequest {
  method: string;
  path: string;
  headers: Headers;
  form: URLSearchParams;
}

export interface FakeGoogleOAuth {
  url: string;
  /** `${url}/token`, for `provider.token_url`. */
  tokenUrl: string;
  /** Number of `grant_type=refresh_token` requests received (answered or not). */
  readonly refreshCalls: number;
  /** Access tokens issued, in order. */
  issued: string[];
  requests: RecordedTokenRequest[];
  /** Makes a refresh token unknown from now on (as revoking it at Google does). */
  revoke(refreshToken: string): void;
  /** Accepts another refresh token. */
  allow(refreshToken: string): void;
  setDelay(ms: number): void;
  /** Answers every request with this 5xx status until called with undefined. */
  setFailure(status: number | undefined): void;
  close(): Promise<void>;
}

export const FAKE_GOOGLE_SCOPE =
  "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid";

function oauthError(status: number, error: string, description: string): Response {
  return new Response(JSON.stringify({ error, error_description: description }, null, 2), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** An unsigned JWT-looking id_token; clients only store it. */
function fakeIdToken(n: number): string {
  const b64 = (v: unknown): string =>
    btoa(JSON.stringify(v)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: "RS256", typ: "JWT" })}.${
    b64({
      iss: "https://accounts.google.com",
      sub: "1000000000000000000",
      email: "fake@example.com",
      iat: now,
      exp: now + 3600,
      n,
    })
  }.ZmFrZS1zaWduYXR1cmU`;
}

export function startFakeGoogleOAuth(
  options: FakeGoogleOAuthOptions = {},
): Promise<FakeGoogleOAuth> {
  const clientId = options.clientId ??
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
  const clientSecret = options.clientSecret ?? "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";
  const known = new Set(options.refreshTokens ?? ["1//fake-refresh-token"]);
  const scope = options.scope ?? FAKE_GOOGLE_SCOPE;
  let refreshCalls = 0;
  let delay = 0;
  let failure: number | undefined;
  let counter = 0;
  const issued: string[] = [];
  const requests: RecordedTokenRequest[] = [];

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        const url = `http://127.0.0.1:${port}`;
        resolve({
          url,
          tokenUrl: `${url}/token`,
          get refreshCalls() {
            return refreshCalls;
          },
          issued,
          requests,
          revoke: (token) => void known.delete(token),
          allow: (token) => void known.add(token),
          setDelay: (ms) => void (delay = ms),
          setFailure: (status) => void (failure = status),
          close: async () => {
            await server.shutdown();
          },
        });
      },
    }, async (req) => {
      const path = new URL(req.url).pathname;
      const contentType = req.headers.get("content-type") ?? "";
      const raw = await req.text();
      const form = new URLSearchParams(
        contentType.startsWith("application/x-www-form-urlencoded") ? raw : "",
      );
      requests.push({ method: req.method, path, headers: req.headers, form });
      if (form.get("grant_type") === "refresh_token") refreshCalls++;

      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (failure !== undefined) {
        return new Response("<html><body>Internal Server Error</body></html>", {
          status: failure,
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      if (path !== "/token" || req.method !== "POST") {
        return new Response("Not Found", { status: 404 });
      }
      if (!contentType.startsWith("application/x-www-form-urlencoded")) {
        return oauthError(400, "invalid_request", "Invalid content type.");
      }
      const grant = form.get("grant_type");
      if (!grant) {
        return oauthError(400, "invalid_request", "Missing required parameter: grant_type");
      }
      if (grant !== "refresh_token") {
        return oauthError(400, "unsupported_grant_type", `Invalid grant_type: ${grant}`);
      }
      if (form.get("client_id") !== clientId) {
        return oauthError(401, "invalid_client", "The OAuth client was not found.");
      }
      if (form.get("client_secret") !== clientSecret) {
        return oauthError(401, "invalid_client", "Unauthorized");
      }
      const refresh = form.get("refresh_token");
      if (!refresh) {
        return oauthError(400, "invalid_request", "Missing required parameter: refresh_token");
      }
      if (!known.has(refresh)) {
        return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
      }
      counter++;
      const accessToken = `ya29.fake-${counter}`;
      issued.push(accessToken);
      options.onIssue?.(accessToken);
      return new Response(
        JSON.stringify(
          {
            access_token: accessToken,
            expires_in: 3599,
            scope,
            token_type: "Bearer",
            id_token: fakeIdToken(counter),
          },
          null,
          2,
        ),
        {
          headers: {
            "content-type": "application/json; charset=utf-8",
            "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
          },
        },
      );
    });
  });
}
