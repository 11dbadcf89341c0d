import { type Context, Hono } from "hono";
import type { AccountManager } from "./accounts/manager.ts";
import type { Cooldowns } from "./accounts/cooldowns.ts";
import type { CredentialPool } from "./routing/credential_pool.ts";
import type { CredentialHealth } from "./routing/credential_health.ts";
import type { QuotaBook } from "./observe/quota.ts";
import { adminRoutes } from "./admin/credentials.ts";
import { metricsResponse, statsRoutes } from "./admin/stats.ts";
import { mountDashboard } from "./dashboard/routes.ts";
import type { Observer } from "./observe/observer.ts";
import { type ConfigAdminDeps, configAdminRoutes } from "./admin/config.ts";
import { resolveClientIdentity } from "./auth/client_identity.ts";
import { presentedKeys } from "./auth/client_auth.ts";
import { bindRequestClient } from "./observe/request_context.ts";
import type { ConfigStore } from "./runtime_state.ts";
import { AuthError, GatewayError, NotFoundError, toGatewayError } from "./errors.ts";
import { detectCallerFormat, errorResponse } from "./formats/caller_format.ts";
import type { Logger } from "./observe/logger.ts";
import { ClientGoneError } from "./upstreams/fetch_upstream.ts";
import {
  anthropicModelList,
  type DiscoveredLists,
  geminiModelList,
  openAIModelList,
} from "./routes/models.ts";
import { chainHooks, handleConversation } from "./routes/conversation.ts";
import {
  deleteStoredResponse,
  getStoredInputItems,
  getStoredResponse,
  responsesStateHooks,
  storingResponses,
} from "./routes/responses_state.ts";
import { compactionHooks, compactionTriggerHooks } from "./routes/compact.ts";
import type { ResponseStore } from "./responses_state/store.ts";
import { openAIChatFormat } from "./formats/openai_chat/format.ts";
import { openAIResponsesFormat } from "./formats/openai_responses/format.ts";
import { geminiRoute } from "./routes/gemini.ts";
import { openAIEmbeddingsRoute } from "./routes/embeddings.ts";
import { anthropicFormat, countTokensResponse } from "./formats/anthropic/format.ts";
import { readJsonBody } from "./http/body.ts";
import { countInputTokens } from "./routes/count_tokens.ts";
import { createPassthrough } from "./passthrough/routes.ts";
import {
  type Admission,
  ConversationLimits,
  headerBytes,
  headersTooLarge,
} from "./limits/conversation_limits.ts";
import { bodyShare } from "./limits/body_budget.ts";
import { type ClientKeys, withRateHeaders } from "./client_keys/service.ts";
import type { ManagedKey } from "./client_keys/store.ts";
import { clientKeyRoutes } from "./client_keys/admin_routes.ts";

export interface AppDeps {
  store: ConfigStore;
  logger: Logger;
  accounts: AccountManager;
  cooldowns: Cooldowns;
  /** Chooses credentials (keys and accounts) for attempts; `health` ejects failing ones. */
  pool: CredentialPool;
  health: CredentialHealth;
  quota: QuotaBook;
  refreshJob: () => Promise<unknown>;
  /** Stats, request log, `/metrics` and the dashboard; off when absent. */
  observer?: Observer;
  /** `/admin/config` (the KV config); absent in apps built without a KV config store. */
  configAdmin?: ConfigAdminDeps;
  /** Managed client keys (`src/client_keys/`): `/admin/keys`, limits, usage; off when absent. */
  clientKeys?: ClientKeys;
  /** Upstreams' own model lists (`src/routing/model_discovery.ts`), listed on `/v1/models`. */
  discovered?: DiscoveredLists;
  /** Stored Responses (`responses.store`); absent, the gateway stores none. */
  responses?: ResponseStore;
}

/** A client route behind the guard: it gets the request's admission (identity, holds). */
type GuardedHandler = (c: Context, admission: Admission) => Response | Promise<Response>;

/** Builds the gateway's Hono app: auth, routes, and errors in the caller's format. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const state = () => deps.store.current;

  app.onError((err, c) => {
    const url = new URL(c.req.url);
    const format = detectCallerFormat(url, c.req.raw.headers);
    if (err instanceof ClientGoneError) return new Response(null, { status: 499 });
    const gw = toGatewayError(err);
    if (!(err instanceof GatewayError)) {
      // Unexpected: log the kind of failure, never the stack or request content.
      deps.logger.error("unhandled error", {
        path: url.pathname,
        error: err instanceof Error ? err.name + ": " + err.message : "unknown",
      });
    } else if (gw.status >= 500) {
      deps.logger.warn("upstream failure", {
        path: url.pathname,
        status: gw.status,
        error: gw.message,
      });
    }
    const res = errorResponse(gw, format);
    // The body was not read to its end (too large, or it stopped arriving): the connection
    // cannot carry another request, and an attacker must not keep it.
    if (gw.status === 408 || gw.status === 413) res.headers.set("connection", "close");
    return res;
  });

  // Pass-through paths are tried only when no gateway route matched, so they never shadow one
  // and cost the hot routes nothing.
  const passthrough = createPassthrough({ state, logger: deps.logger });
  app.notFound((c) => {
    const relayed = passthrough.route(c.req.raw);
    if (relayed) return relayed;
    const url = new URL(c.req.url);
    return errorResponse(
      new NotFoundError(`No route for ${c.req.method} ${url.pathname}.`, "unknown_route"),
      detectCallerFormat(url, c.req.raw.headers),
    );
  });

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  if (deps.observer) {
    const obs = {
      state,
      observer: deps.observer,
      accounts: deps.accounts,
      cooldowns: deps.cooldowns,
    };
    app.route("/admin", statsRoutes(obs));
    app.get("/metrics", async (c) => {
      const res = await metricsResponse(c, obs);
      return deps.clientKeys ? await deps.clientKeys.withKeyMetrics(res, state()) : res;
    });
    mountDashboard(app);
  }

  /**
   * Client auth as a plain wrapper around each client route rather than a `*` middleware:
   * Hono's middleware chain costs several percent of throughput on the hot path.
   */
  const limits = new ConversationLimits();
  const keys = deps.clientKeys;
  const guard = (handler: GuardedHandler) => (c: Context) => {
    const config = state().config;
    const req = c.req.raw;
    const headers = req.headers;
    // One identity per request, by one precedence, for auth, limits, stats and the log: a
    // configured (operator) key first, else — once managed keys exist — a managed key, which a
    // disabled, expired or rotated-out secret never is (the same 401 as an unknown key). The
    // URL stays a string: it is parsed only if its query may carry a key.
    let identity = resolveClientIdentity(headers, req.url, config.auth.api_keys, remoteAddrOf(c));
    let managed: ManagedKey | undefined;
    if (keys?.required && identity?.kind !== "key") {
      const found = keys.identify(req, presentedKeys(headers, req.url));
      if (found?.kind !== "key") throw new AuthError();
      managed = found.key;
      identity = { id: `managed-${managed.record.id}`, hint: managed.record.hint, kind: "key" };
    }
    if (!identity) throw new AuthError();
    bindRequestClient(identity.id);
    const headerSize = headerBytes(headers);
    if (headerSize > config.limits.max_header_bytes) {
      throw headersTooLarge(headerSize, config.limits.max_header_bytes);
    }
    const admission = limits.enter(
      identity,
      bodyShare(req, config.limits.max_body_bytes),
      config.limits,
    );
    // Nothing held (no body, streams unlimited): the answer is returned untouched.
    const run = (): Response | Promise<Response> =>
      admission.bytes === 0 && config.limits.max_concurrent_streams_per_key <= 0
        ? handler(c, admission)
        : limits.run(admission, () => handler(c, admission));
    return keys && managed?.limited ? withRateHeaders(keys, managed, run) : run();
  };

  app.get("/v1/models", guard((c) => listModels(c.req.raw)));
  app.get("/models", guard((c) => listModels(c.req.raw)));
  app.get(
    "/v1beta/models",
    guard((c) => c.json(geminiModelList(state(), deps.discovered, keys?.keyOf(c.req.raw)?.allows))),
  );
  if (keys) app.route("/admin", clientKeyRoutes(state, keys));
  if (deps.configAdmin) app.route("/admin", configAdminRoutes(deps.configAdmin));
  app.route(
    "/admin",
    adminRoutes({
      state,
      accounts: deps.accounts,
      quota: deps.quota,
      cooldowns: deps.cooldowns,
      runRefreshJob: deps.refreshJob,
    }),
  );
  const conv = {
    state,
    pool: deps.pool,
    health: deps.health,
    accounts: deps.accounts,
    cooldowns: deps.cooldowns,
    quota: deps.quota,
    logger: deps.logger,
    limits,
    observer: deps.observer,
    clientKeys: keys,
  };
  const convertedChat = guard((c, a) => handleConversation(c, a, openAIChatFormat, {}, conv));
  // A `supplier` header makes chat a pass-through with the client's own key; one lookup if absent.
  const chat = (c: Context) =>
    (c.req.raw.headers.get("supplier") === null ? undefined : passthrough.supplier(c.req.raw)) ??
      convertedChat(c);
  const stateDeps = { state, store: deps.responses, logger: deps.logger };
  // Codex's compaction trigger first (its summary request is never stored), then storage.
  const stateHooks = chainHooks(compactionTriggerHooks, responsesStateHooks(stateDeps));
  const responses = guard((c, a) =>
    handleConversation(c, a, openAIResponsesFormat, {}, conv, stateHooks)
  );
  const compact = guard((c, a) =>
    handleConversation(c, a, openAIResponsesFormat, {}, conv, compactionHooks)
  );
  // With storing off, these paths stay free for a configured pass-through relay.
  const stored = (serve: (c: Context, owner: string) => Promise<Response>) =>
    guard((c, a) =>
      storingResponses(stateDeps)
        ? serve(c, a.identity.id)
        : passthrough.route(c.req.raw) ?? serve(c, a.identity.id)
    );
  const gemini = guard((c, a) => geminiRoute(c, a, conv));
  app.post("/v1/chat/completions", chat);
  app.post("/chat/completions", chat);
  const embeddings = guard((c) => openAIEmbeddingsRoute(c, conv));
  app.post("/v1/embeddings", embeddings);
  app.post("/embeddings", embeddings);
  app.post("/v1/responses", responses);
  app.post("/responses", responses);
  app.post("/v1/responses/compact", compact);
  app.post("/responses/compact", compact);
  app.get("/v1/responses/:id", stored((c, owner) => getStoredResponse(c, owner, stateDeps)));
  app.get(
    "/v1/responses/:id/input_items",
    stored((c, owner) => getStoredInputItems(c, owner, stateDeps)),
  );
  app.delete("/v1/responses/:id", stored((c, owner) => deleteStoredResponse(c, owner, stateDeps)));
  app.post("/v1/messages", guard((c, a) => handleConversation(c, a, anthropicFormat, {}, conv)));
  // Claude Code calls this very often: answered locally by estimate, never upstream.
  app.post(
    "/v1/messages/count_tokens",
    guard(async (c) => {
      const bounds = state().config.limits;
      const { json } = await readJsonBody(c.req.raw, bounds.max_body_bytes, {
        idleTimeoutMs: bounds.body_idle_timeout_ms,
      });
      const ir = anthropicFormat.toIr(json, {});
      return c.json(countTokensResponse(await countInputTokens(c, ir, conv)));
    }),
  );
  app.post("/v1beta/models/*", gemini);
  app.post("/v1/models/*", gemini);

  function listModels(req: Request): Response {
    const format = detectCallerFormat(new URL(req.url), req.headers);
    // A managed key sees only the models its allowlist names.
    const allows = keys?.keyOf(req)?.allows;
    if (format === "gemini") {
      return Response.json(geminiModelList(state(), deps.discovered, allows));
    }
    // Anthropic clients (Claude Code's model discovery) send `anthropic-version`.
    if (req.headers.has("anthropic-version")) {
      return Response.json(anthropicModelList(state(), deps.discovered, allows));
    }
    return Response.json(openAIModelList(state(), deps.discovered, allows));
  }

  return app;
}

/** The client's IP address, from the server's connection info (Hono's `env`). */
function remoteAddrOf(c: Context): string | undefined {
  const env: unknown = c.env;
  if (typeof env !== "object" || env === null || !("remoteAddr" in env)) return undefined;
  const addr = (env as { remoteAddr?: { hostname?: unknown } }).remoteAddr;
  return typeof addr?.hostname === "string" ? addr.hostname : undefined;
}
