import {
  googleError,
  type Json,
  lastToolResult,
  lastUserText,
  mergeChunks,
} from "./google_wire.ts";
/**
 * A fake Google Code Assist API (`cloudcode-pa.googleapis.com/v1internal`) on 127.0.0.1
 * (ephemeral port), speaking the wire format Gemini CLI sees:
 * - `POST /v1internal:loadCodeAssist` → `{currentTier, allowedTiers, cloudaicompanionProject}`
 *   for an onboarded user; for a new one no currentTier and the default allowed tier
 * - `POST /v1internal:onboardUser` → a long-running operation: the first answer is
 *   `{name, done: false}`, the next (`GET /v1internal/<name>`, or onboardUser sent again) is done
 *   with `response.cloudaicompanionProject.{id,name}`; the free tier refuses a named project
 * - `POST /v1internal:generateContent` → `{response: GenerateContentResponse, traceId}`
 * - `POST /v1internal:streamGenerateContent?alt=sse` → one such envelope per `data:` line, CRLF
 * - `POST /v1internal:countTokens` → `{totalTokens}`
 * Every call needs `Authorization: Bearer <token>` with a token in `validTokens` (else 401
 * UNAUTHENTICATED). Generation checks the envelope: `model`, `project` (a known one, else 403),
 * `request.contents`, and no `model` inside `request` (Code Assist rejects unknown fields).
 * Model suffixes: `-tools` (a get_weather call; after a functionResponse, "Tool said: …"),
 * `-429` (RESOURCE_EXHAUSTED with RetryInfo 17s), `-500` (INTERNAL); anything else answers
 * "Hello from <model>: <last user text>" in three chunks, usage and STOP on the last.
 * Tokens in `individualTokens` belong to individual / Google One accounts, which Google stopped
 * serving on 2026-06-18: loadCodeAssist answers only an ineligible tier (`UNSUPPORTED_CLIENT`)
 * and generation answers 403 PERMISSION_DENIED, both with Google's "no longer supported" text.
 */

export const INDIVIDUAL_REFUSAL =
  "This client is no longer supported for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity suite of products: https://antigravity.google";

export interface FakeCodeAssistOptions {
  /** Access tokens accepted at start. */
  validTokens?: string[];
  /** The Google-managed project assigned on (free-tier) onboarding. */
  managedProject?: string;
  /** Whether the user has already been onboarded (default true). */
  onboarded?: boolean;
  /** The default allowed tier offered to a new user (default "free-tier"). */
  defaultTier?: "free-tier" | "standard-tier";
  /** Whether onboardUser names its operation (polled with GET) or expects a re-POST. */
  operationName?: boolean;
  /** Projects of the user's own that generation accepts besides the managed one. */
  userProjects?: string[];
}

export interface RecordedCodeAssistRequest {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: Record<string, unknown>;
  rawBody: string;
}

export interface FakeCodeAssist {
  url: string;
  requests: RecordedCodeAssistRequest[];
  validTokens: Set<string>;
  readonly loadCalls: number;
  /** Tokens of individual accounts (refused since 2026-06-18). */
  individualTokens: Set<string>;
  /** onboardUser POSTs. */
  readonly onboardCalls: number;
  /** GETs of the onboarding operation. */
  readonly operationCalls: number;
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const JSON_TYPE = { "content-type": "application/json; charset=UTF-8" };

function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function usage(prompt: number, candidates: number): Json {
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates,
    promptTokensDetails: [{ modality: "TEXT", tokenCount: prompt }],
  };
}

function chunk(model: string, parts: Json[], extra: { finish?: string; usage?: Json } = {}): Json {
  const candidate: Json = { content: { role: "model", parts } };
  if (extra.finish) candidate.finishReason = extra.finish;
  const out: Json = { candidates: [candidate] };
  if (extra.usage) out.usageMetadata = extra.usage;
  out.modelVersion = model;
  out.createTime = new Date().toISOString();
  out.responseId = "ca-fake-resp-0001";
  return out;
}

/** The chunks a model streams; a non-streaming answer merges them. */
function script(model: string, request: Json): Json[] {
  if (model.endsWith("-tools")) {
    const said = lastToolResult(request);
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
  const text = `Hello from ${model}: ${lastUserText(request)}`;
  const a = Math.floor(text.length / 3);
  const b = Math.floor((2 * text.length) / 3);
  return [
    chunk(model, [{ text: text.slice(0, a) }]),
    chunk(model, [{ text: text.slice(a, b) }]),
    chunk(model, [{ text: text.slice(b) }], { finish: "STOP", usage: usage(8, 6) }),
  ];
}

function traceId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

const TIERS: Record<string, Json> = {
  "free-tier": {
    id: "free-tier",
    name: "Gemini Code Assist for individuals",
    description: "Gemini Code Assist for individuals",
    privacyNotice: { showNotice: false },
  },
  "standard-tier": {
    id: "standard-tier",
    name: "Gemini Code Assist Standard",
    description: "Unlimited coding assistant with the most powerful Gemini models",
    userDefinedCloudaicompanionProject: true,
    privacyNotice: {},
  },
};

export function startFakeCodeAssist(options: FakeCodeAssistOptions = {}): Promise<FakeCodeAssist> {
  const managed = options.managedProject ?? "fake-managed-project-12345";
  const defaultTier = options.defaultTier ?? "free-tier";
  const named = options.operationName ?? true;
  const validTokens = new Set(options.validTokens ?? ["ya29.fake-valid"]);
  const projects = new Set([managed, ...(options.userProjects ?? [])]);
  const requests: RecordedCodeAssistRequest[] = [];
  let onboardedTier: string | undefined = (options.onboarded ?? true) ? "free-tier" : undefined;
  let onboardedProject: string | undefined = onboardedTier ? managed : undefined;
  let pending: { tier: string; project: string } | undefined;
  let loadCalls = 0;
  let onboardCalls = 0;
  let operationCalls = 0;
  const operation = "operations/onboard-fake-0001";

  const finishOnboarding = (): Response => {
    const p = pending!;
    onboardedTier = p.tier;
    onboardedProject = p.project;
    return Response.json({
      name: named ? operation : undefined,
      done: true,
      response: {
        "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
        cloudaicompanionProject: { id: p.project, name: p.project },
      },
    });
  };

  const loadCodeAssist = (body: Json): Response => {
    loadCalls++;
    if (!isRecord(body.metadata)) {
      return googleError(400, "INVALID_ARGUMENT", "metadata is required.");
    }
    if (onboardedTier) {
      const out: Json = {
        currentTier: TIERS[onboardedTier],
        allowedTiers: [{ ...TIERS[onboardedTier], isDefault: true }],
      };
      if (onboardedProject) out.cloudaicompanionProject = onboardedProject;
      out.gcpManaged = false;
      return Response.json(out);
    }
    return Response.json({
      allowedTiers: Object.values(TIERS).map((t) => ({ ...t, isDefault: t.id === defaultTier })),
      gcpManaged: false,
    });
  };

  const onboardUser = (body: Json): Response => {
    onboardCalls++;
    const tier = typeof body.tierId === "string" ? body.tierId : "";
    if (!TIERS[tier]) return googleError(400, "INVALID_ARGUMENT", `Unknown tier: ${tier}`);
    const project = typeof body.cloudaicompanionProject === "string"
      ? body.cloudaicompanionProject
      : undefined;
    if (tier === "free-tier" && project) {
      return googleError(400, "FAILED_PRECONDITION", "Precondition check failed.");
    }
    if (tier !== "free-tier" && !project) {
      return googleError(400, "INVALID_ARGUMENT", "cloudaicompanionProject is required.");
    }
    if (pending) return finishOnboarding();
    pending = { tier, project: project ?? managed };
    if (project) projects.add(project);
    return Response.json(named ? { name: operation, done: false } : { done: false });
  };

  const individualTokens = new Set<string>();
  const state = {
    url: "",
    requests,
    validTokens,
    individualTokens,
    get loadCalls() {
      return loadCalls;
    },
    get onboardCalls() {
      return onboardCalls;
    },
    get operationCalls() {
      return operationCalls;
    },
    close: () => Promise.resolve(),
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.close = async () => {
          await server.shutdown();
        };
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      const rawBody = req.method === "POST" ? await req.text() : "";
      let body: Json = {};
      try {
        const parsed: unknown = rawBody ? JSON.parse(rawBody) : {};
        body = isRecord(parsed) ? parsed : {};
      } catch {
        return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
      }
      requests.push({
        method: req.method,
        path: url.pathname,
        search: url.searchParams,
        headers: req.headers,
        body,
        rawBody,
      });

      const auth = req.headers.get("authorization") ?? "";
      const token = /^Bearer (.+)$/.exec(auth)?.[1];
      if (!token || !validTokens.has(token)) {
        return googleError(
          401,
          "UNAUTHENTICATED",
          "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
          [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "ACCESS_TOKEN_EXPIRED",
            domain: "googleapis.com",
            metadata: { service: "cloudcode-pa.googleapis.com", method: "CloudCode" },
          }],
        );
      }

      if (req.method === "GET" && url.pathname === `/v1internal/${operation}`) {
        operationCalls++;
        if (!pending) return googleError(404, "NOT_FOUND", "Operation not found.");
        return finishOnboarding();
      }
      const m = /^\/v1internal:([A-Za-z]+)$/.exec(url.pathname);
      if (!m || req.method !== "POST") {
        return googleError(404, "NOT_FOUND", `Method not found: ${url.pathname}`);
      }
      const method = m[1];
      if (individualTokens.has(token)) {
        if (method === "loadCodeAssist") {
          return Response.json({
            ineligibleTiers: [{
              reasonCode: "UNSUPPORTED_CLIENT",
              reasonMessage: INDIVIDUAL_REFUSAL,
              tierId: "free-tier",
              tierName: "Gemini Code Assist for individuals",
            }],
          });
        }
        return googleError(403, "PERMISSION_DENIED", INDIVIDUAL_REFUSAL);
      }
      if (method === "loadCodeAssist") return loadCodeAssist(body);
      if (method === "onboardUser") return onboardUser(body);

      const request = body.request;
      if (method === "countTokens") {
        if (
          !isRecord(request) || typeof request.model !== "string" ||
          !request.model.startsWith("models/") || !Array.isArray(request.contents)
        ) {
          return googleError(400, "INVALID_ARGUMENT", "request.model and contents are required.");
        }
        return Response.json({ totalTokens: lastUserText(request).length });
      }
      if (method !== "generateContent" && method !== "streamGenerateContent") {
        return googleError(404, "NOT_FOUND", `Method not found: ${method}`);
      }

      const model = body.model;
      if (typeof model !== "string" || model === "") {
        return googleError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.");
      }
      if (
        !isRecord(request) || !Array.isArray(request.contents) || request.contents.length === 0
      ) {
        return googleError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.");
      }
      if ("model" in request) {
        return googleError(
          400,
          "INVALID_ARGUMENT",
          `Invalid JSON payload received. Unknown name "model" at 'request': Cannot find field.`,
        );
      }
      const project = body.project;
      if (typeof project !== "string" || !projects.has(project)) {
        return googleError(
          403,
          "PERMISSION_DENIED",
          `Permission denied on resource project ${String(project)}.`,
        );
      }

      if (model.endsWith("-429")) {
        return googleError(
          429,
          "RESOURCE_EXHAUSTED",
          "You have exhausted your capacity on this model. Your quota will reset after 17s.",
          [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "RATE_LIMIT_EXCEEDED",
              domain: "cloudcode-pa.googleapis.com",
              metadata: { uiMessage: "true", model, quotaResetDelay: "17s" },
            },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "17s" },
          ],
        );
      }
      if (model.endsWith("-500")) {
        return googleError(500, "INTERNAL", "Internal error encountered.");
      }

      const chunks = script(model, request);
      const trace = traceId();
      if (method === "generateContent") {
        return new Response(
          JSON.stringify({ response: mergeChunks(chunks), traceId: trace }, null, 2),
          {
            headers: JSON_TYPE,
          },
        );
      }
      if (url.searchParams.get("alt") !== "sse") {
        return googleError(400, "INVALID_ARGUMENT", "The fake serves streams with alt=sse only.");
      }
      let i = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 2));
          if (i < chunks.length) {
            const envelope = { response: chunks[i++], traceId: trace };
            controller.enqueue(encoder.encode(`data: ${JSON.stringify(envelope)}\r\n\r\n`));
            return;
          }
          controller.close();
        },
      });
      return new Response(stream, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
      });
    });
  });
}
