import {
  googleError,
  type Json,
  lastToolResult,
  lastUserText,
  mergeChunks,
} from "./google_wire.ts";
import { answerAnthropicMessages } from "./anthropic_upstream.ts";
/**
 * A fake Google token endpoint plus Vertex AI on 127.0.0.1 (ephemeral port).
 *
 * Token endpoint `POST /token` (form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
 * `assertion`): verifies the JWT as Google does — RS256 signature against the public half of a
 * registered service-account key (looked up by `kid`), `iss` = that account's email, `aud` = this
 * endpoint, the cloud-platform scope, and a lifetime of at most an hour around now — and
 * answers `{access_token, expires_in: 3599, token_type: "Bearer"}`. Failures use Google's
 * shapes: 400 `invalid_grant` ("Invalid JWT Signature." for unknown or revoked keys).
 *
 * Vertex `POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:
 * generateContent | streamGenerateContent` (`?alt=sse` for SSE, else the streamed JSON array):
 * the bearer must be a token this fake minted (else 401 UNAUTHENTICATED) and the project must
 * belong to that token's service account (else 403 PERMISSION_DENIED). The model name picks the
 * behaviour:
 * - `*-tools`: a `get_weather {city: "Paris"}` functionCall; once the last turn carries a
 *   functionResponse, the text "Tool said: <result>"
 * - `*-429`: 429 RESOURCE_EXHAUSTED with RetryInfo `retryDelay: "17s"`
 * - `*-500`: 500 INTERNAL
 * - anything else: "Hello from <model>: <last user text>" in three chunks
 *
 * Claude on Vertex, `POST …/publishers/anthropic/models/{model}:rawPredict | streamRawPredict`
 * (same token and project checks): the body must be an Anthropic Messages body with
 * `anthropic_version: "vertex-2023-10-16"` and no `model` (else an Anthropic-shaped 400), and
 * `stream: true` exactly on `streamRawPredict`; it is then answered by the fake Anthropic API's
 * logic (JSON, or Anthropic SSE), so its model-named behaviours apply. `*-429` answers Google's
 * RESOURCE_EXHAUSTED. `…/models/count-tokens:rawPredict` counts (the model in the body).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** A generated service account: the key file to upload, and the public key for the fake. */
export interface TestServiceAccount {
  /** The key JSON as Google Cloud hands it out. */
  keyFile: {
    type: "service_account";
    project_id: string;
    private_key_id: string;
    private_key: string;
    client_email: string;
    client_id: string;
    auth_uri: string;
    token_uri: string;
    auth_provider_x509_cert_url: string;
    client_x509_cert_url: string;
    universe_domain: string;
  };
  publicKey: CryptoKey;
}

function toPem(der: ArrayBuffer): string {
  const bytes = new Uint8Array(der);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** Generates an RSA-2048 key pair and a service-account key file around its private half. */
export async function createTestServiceAccount(
  options: { tokenUri: string; projectId?: string; name?: string },
): Promise<TestServiceAccount> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const projectId = options.projectId ?? "fake-project-123";
  const name = options.name ?? "llm-proxy";
  const email = `${name}@${projectId}.iam.gserviceaccount.com`;
  const kid = crypto.randomUUID().replaceAll("-", "") + "0123456789";
  return {
    keyFile: {
      type: "service_account",
      project_id: projectId,
      private_key_id: kid,
      private_key: toPem(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
      client_email: email,
      client_id: "10" + String(Math.floor(Math.random() * 1e15)).padStart(15, "0"),
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: options.tokenUri,
      auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${
        encodeURIComponent(email)
      }`,
      universe_domain: "googleapis.com",
    },
    publicKey: pair.publicKey,
  };
}

export interface RecordedVertexRequest {
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: Json;
  rawBody: string;
}

export interface VerifiedAssertion {
  header: Json;
  claims: Json;
}

export interface FakeVertex {
  url: string;
  /** `{url}/token`. */
  tokenUrl: string;
  requests: RecordedVertexRequest[];
  /** Every token-endpoint call, including refused ones. */
  tokenCalls: number;
  /** Assertions that passed verification, in order. */
  verified: VerifiedAssertion[];
  tokenDelayMs: number;
  /** Creates a service account whose key this fake accepts; its token_uri points here. */
  createServiceAccount(
    options?: { projectId?: string; name?: string },
  ): Promise<TestServiceAccount>;
  /** Accepts an existing account's key. */
  register(account: TestServiceAccount): void;
  /** Deletes a key (by private_key_id): its assertions and tokens stop working. */
  revokeKey(keyId: string): void;
  /** Invalidates all minted access tokens (the next API call gets 401). */
  expireAccessTokens(): void;
  /** Accepted Claude (anthropic publisher) requests: model from the URL, body as sent. */
  claudeRequests: { model: string; stream: boolean; body: Json }[];
  /** Claude body fields this upstream knows beyond the Messages API's own (a newer API). */
  claudeExtraParams: Set<string>;
  close(): Promise<void>;
}

function oauthError(status: number, error: string, description: string): Response {
  return new Response(JSON.stringify({ error, error_description: description }), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function b64urlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function decodeJsonPart(text: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(decoder.decode(b64urlToBytes(text)));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Json : undefined;
  } catch {
    return undefined;
  }
}

function usage(prompt: number, candidates: number): Json {
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates,
    trafficType: "ON_DEMAND",
  };
}

function chunk(model: string, parts: Json[], extra: { finish?: string; usage?: Json } = {}): Json {
  const candidate: Json = { content: { role: "model", parts } };
  if (extra.finish) candidate.finishReason = extra.finish;
  const out: Json = { candidates: [candidate] };
  if (extra.usage) out.usageMetadata = extra.usage;
  out.modelVersion = model;
  out.createTime = new Date().toISOString();
  out.responseId = "vertex-resp-0001";
  return out;
}

function script(model: string, body: Json): Json[] {
  if (model.endsWith("-tools")) {
    const said = lastToolResult(body);
    if (said !== undefined) {
      return [
        chunk(model, [{ text: `Tool said: ${said}` }], { finish: "STOP", usage: usage(9, 4) }),
      ];
    }
    return [chunk(model, [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }], {
      finish: "STOP",
      usage: usage(9, 5),
    })];
  }
  const text = `Hello from ${model}: ${lastUserText(body)}`;
  const a = Math.floor(text.length / 3);
  const b = Math.floor((2 * text.length) / 3);
  return [
    chunk(model, [{ text: text.slice(0, a) }], { usage: usage(8, 0) }),
    chunk(model, [{ text: text.slice(a, b) }], { usage: usage(8, 0) }),
    chunk(model, [{ text: text.slice(b) }], { finish: "STOP", usage: usage(8, 6) }),
  ];
}

export function startFakeVertex(): Promise<FakeVertex> {
  /** Registered keys by private_key_id. */
  const keys = new Map<string, { email: string; projectId: string; publicKey: CryptoKey }>();
  /** Minted access tokens → the key they came from. */
  const tokens = new Map<string, string>();

  const state: FakeVertex = {
    url: "",
    tokenUrl: "",
    requests: [],
    tokenCalls: 0,
    verified: [],
    tokenDelayMs: 0,
    claudeExtraParams: new Set(),
    createServiceAccount: async (options = {}) => {
      const account = await createTestServiceAccount({ tokenUri: state.tokenUrl, ...options });
      state.register(account);
      return account;
    },
    register: (account) => {
      keys.set(account.keyFile.private_key_id, {
        email: account.keyFile.client_email,
        projectId: account.keyFile.project_id,
        publicKey: account.publicKey,
      });
    },
    revokeKey: (keyId) => {
      keys.delete(keyId);
      for (const [token, kid] of tokens) if (kid === keyId) tokens.delete(token);
    },
    expireAccessTokens: () => tokens.clear(),
    claudeRequests: [],
    close: () => Promise.resolve(),
  };

  async function tokenEndpoint(req: Request): Promise<Response> {
    state.tokenCalls++;
    if (state.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, state.tokenDelayMs));
    if (!(req.headers.get("content-type") ?? "").includes("application/x-www-form-urlencoded")) {
      return oauthError(400, "invalid_request", "Invalid content type.");
    }
    const form = new URLSearchParams(await req.text());
    if (form.get("grant_type") !== JWT_BEARER) {
      return oauthError(400, "unsupported_grant_type", "Invalid grant_type: ");
    }
    const parts = (form.get("assertion") ?? "").split(".");
    if (parts.length !== 3) return oauthError(400, "invalid_grant", "Invalid JWT Signature.");
    const header = decodeJsonPart(parts[0]);
    const claims = decodeJsonPart(parts[1]);
    if (!header || !claims || header.alg !== "RS256" || header.typ !== "JWT") {
      return oauthError(400, "invalid_grant", "Invalid JWT Signature.");
    }
    const key = typeof header.kid === "string" ? keys.get(header.kid) : undefined;
    let signatureOk = false;
    if (key) {
      try {
        signatureOk = await crypto.subtle.verify(
          "RSASSA-PKCS1-v1_5",
          key.publicKey,
          b64urlToBytes(parts[2]),
          encoder.encode(`${parts[0]}.${parts[1]}`),
        );
      } catch {
        signatureOk = false;
      }
    }
    if (!key || !signatureOk) return oauthError(400, "invalid_grant", "Invalid JWT Signature.");
    if (claims.iss !== key.email) {
      return oauthError(400, "invalid_grant", "Invalid JWT: iss does not match the key.");
    }
    if (claims.aud !== state.tokenUrl) {
      return oauthError(400, "invalid_grant", "Invalid JWT: Failed audience check.");
    }
    const scopes = typeof claims.scope === "string" ? claims.scope.split(" ") : [];
    if (!scopes.includes(CLOUD_PLATFORM)) {
      return oauthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    }
    const now = Math.floor(Date.now() / 1000);
    const iat = typeof claims.iat === "number" ? claims.iat : NaN;
    const exp = typeof claims.exp === "number" ? claims.exp : NaN;
    if (!(exp > now && iat <= now + 60 && exp - iat <= 3600 && exp > iat)) {
      return oauthError(
        400,
        "invalid_grant",
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
      );
    }
    state.verified.push({ header, claims });
    const accessToken = `ya29.c.fake-${crypto.randomUUID()}`;
    tokens.set(accessToken, header.kid as string);
    return new Response(
      JSON.stringify({ access_token: accessToken, expires_in: 3599, token_type: "Bearer" }),
      { headers: { "content-type": "application/json; charset=utf-8" } },
    );
  }

  async function vertex(req: Request, url: URL, body: Json): Promise<Response> {
    const m =
      /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(google|anthropic)\/models\/([^/:]+):(generateContent|streamGenerateContent|rawPredict|streamRawPredict)$/
        .exec(url.pathname);
    if (!m) return googleError(404, "NOT_FOUND", `Method not found: ${url.pathname}`);
    const [, project, location, publisher, rawModel, method] = m;
    if ((publisher === "anthropic") !== /rawPredict$/i.test(method)) {
      return googleError(404, "NOT_FOUND", `Method not found: ${url.pathname}`);
    }
    const auth = req.headers.get("authorization") ?? "";
    const kid = tokens.get(auth.startsWith("Bearer ") ? auth.slice(7) : "");
    const key = kid ? keys.get(kid) : undefined;
    if (!key) {
      return googleError(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
      );
    }
    if (decodeURIComponent(project) !== key.projectId) {
      return googleError(
        403,
        "PERMISSION_DENIED",
        `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${project}/locations/${location}/publishers/google/models/${rawModel}' (or it may not exist).`,
      );
    }
    if (!/^[a-z]+(-[a-z]+\d+)?$/.test(location)) {
      return googleError(400, "INVALID_ARGUMENT", `Unsupported location: ${location}`);
    }
    const model = decodeURIComponent(rawModel);
    if (publisher === "anthropic" && !model.endsWith("-429")) {
      return await claude(req, model, method === "streamRawPredict", body);
    }
    if (model.endsWith("-429")) {
      return googleError(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
        [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "17s" }],
      );
    }
    if (model.endsWith("-500")) {
      return googleError(500, "INTERNAL", "Internal error encountered.");
    }
    const chunks = script(model, body);
    if (method === "generateContent") {
      return new Response(JSON.stringify(mergeChunks(chunks), null, 2), {
        headers: { "content-type": "application/json; charset=UTF-8" },
      });
    }
    const sse = url.searchParams.get("alt") === "sse";
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setTimeout(r, 1));
        if (i < chunks.length) {
          const f = JSON.stringify(chunks[i]);
          controller.enqueue(
            encoder.encode(sse ? `data: ${f}\r\n\r\n` : (i === 0 ? "[" : ",\r\n") + f),
          );
          i++;
          return;
        }
        if (!sse) controller.enqueue(encoder.encode("]"));
        controller.close();
      },
    });
    return new Response(stream, {
      headers: { "content-type": sse ? "text/event-stream" : "application/json; charset=UTF-8" },
    });
  }

  async function claude(
    req: Request,
    model: string,
    stream: boolean,
    body: Json,
  ): Promise<Response> {
    const refuse = (message: string) =>
      new Response(
        JSON.stringify({ type: "error", error: { type: "invalid_request_error", message } }),
        { status: 400, headers: { "content-type": "application/json" } },
      );
    if (body.anthropic_version !== "vertex-2023-10-16") {
      return refuse("anthropic_version: Input should be 'vertex-2023-10-16'");
    }
    const { anthropic_version: _v, ...rest } = body;
    if (model === "count-tokens") {
      if (typeof rest.model !== "string" || !rest.model.startsWith("claude-")) {
        return refuse("model: Field required");
      }
      return Response.json({ input_tokens: Math.ceil(JSON.stringify(rest).length / 4) });
    }
    if ("model" in rest) return refuse("model: Extra inputs are not permitted");
    if ((rest.stream === true) !== stream) {
      return refuse(`stream: must be ${stream} for ${stream ? "streamRawPredict" : "rawPredict"}`);
    }
    state.claudeRequests.push({ model, stream, body });
    return await answerAnthropicMessages({ ...rest, model }, req, claudeCounters);
  }
  const claudeCounters = {
    cancelledStreams: 0,
    abortedRequests: 0,
    get extraParams(): Set<string> {
      return state.claudeExtraParams;
    },
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.tokenUrl = `${state.url}/token`;
        state.close = async () => {
          await server.shutdown();
        };
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      if (req.method === "POST" && url.pathname === "/token") return await tokenEndpoint(req);
      if (req.method !== "POST") return googleError(404, "NOT_FOUND", "Not found");
      const rawBody = await req.text();
      let body: Json;
      try {
        body = JSON.parse(rawBody);
      } catch {
        return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
      }
      state.requests.push({
        path: url.pathname,
        search: url.searchParams,
        headers: req.headers,
        body,
        rawBody,
      });
      return await vertex(req, url, body);
    });
  });
}
