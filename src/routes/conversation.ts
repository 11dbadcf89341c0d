import type { Context } from "hono";
import { type Cooldowns, keyId } from "../accounts/cooldowns.ts";
import type { KeyRotator } from "../accounts/key_rotation.ts";
import { classifyFailure } from "../routing/failure.ts";
import { type SessionAffinity, sessionKeyOf } from "../routing/session_affinity.ts";
import {
  recoverableStream,
  recoveryApplies,
  recoverySettings,
} from "../routing/stream_recovery.ts";
import { ClientGoneError, parseRetryAfter } from "../upstreams/fetch_upstream.ts";
import type { Logger } from "../observe/logger.ts";
import type { ConversationLimits } from "../limits/conversation_limits.ts";
import { clientIdentityOf } from "../auth/client_identity.ts";
import type { QuotaBook } from "../observe/quota.ts";
import type { Observer, RequestRecord } from "../observe/observer.ts";
import type { AccountManager } from "../accounts/manager.ts";
import type { RuntimeState } from "../config/store.ts";
import { GatewayError, NotFoundError, toGatewayError, UpstreamError } from "../errors.ts";
import type { ClientFormat, RequestHints } from "../formats/client_format.ts";
import { readJsonBody } from "../http/body.ts";
import { fuse } from "../http/fused_stream.ts";
import type { IrRequest } from "../ir/types.ts";
import type { Route } from "../routing/routing_table.ts";
import { upstreamFor } from "../upstreams/registry.ts";
import type { CallContext, Upstream } from "../upstreams/types.ts";

export interface ConversationDeps {
  state: () => RuntimeState;
  keys: KeyRotator;
  accounts: AccountManager;
  cooldowns: Cooldowns;
  affinity: SessionAffinity;
  quota: QuotaBook;
  logger: Logger;
  /** Message count and concurrent-stream limits (`src/limits/conversation_limits.ts`). */
  limits?: ConversationLimits;
  /** Stats and the request log (`src/observe/observer.ts`); absent in some unit tests. */
  observer?: Observer;
}

/**
 * Serves one chat request in any client format: validate into the IR, route by model, then
 * either forward untouched (the upstream speaks the client's format) or convert through the IR.
 * Before the first byte reaches the client, a failed attempt moves on: the next key or account
 * of the provider, then the next route by priority, then the alias fallback chain, at most
 * `max_retries` retries. Rate-limited and failing credentials cool down (shared through KV).
 */
export async function handleConversation(
  c: Context,
  format: ClientFormat,
  hints: RequestHints,
  deps: ConversationDeps,
): Promise<Response> {
  const observer = deps.observer;
  if (!observer) return await serveConversation(c, format, hints, deps);
  const rec = observer.begin(format.id, hints.model ?? "", hints.stream ?? false);
  try {
    return await observer.track(rec, await serveConversation(c, format, hints, deps, rec));
  } catch (err) {
    observer.finish(rec, err instanceof ClientGoneError ? 499 : toGatewayError(err).status);
    throw err;
  }
}

async function serveConversation(
  c: Context,
  format: ClientFormat,
  hints: RequestHints,
  deps: ConversationDeps,
  rec?: RequestRecord,
): Promise<Response> {
  const state = deps.state();
  const { raw, json } = await readJsonBody(c.req.raw, state.config.limits.max_body_bytes, {
    idleTimeoutMs: state.config.limits.body_idle_timeout_ms,
  });
  const ir = format.toIr(json, hints);
  if (rec) {
    rec.model = ir.model;
    rec.stream = ir.stream;
  }
  deps.limits?.admit(clientIdentityOf(c.req.raw), ir, state.config.limits);

  const routes = planRoutes(state, ir.model);
  if (routes.length === 0) {
    throw new NotFoundError(
      `The model '${ir.model}' does not exist or is not routable on this gateway.`,
      "model_not_found",
    );
  }
  const call: Call = { c, format, hints, ir, raw, json: json as Record<string, unknown>, deps };
  const maxAttempts = state.config.fallback.max_retries + 1;
  let attempts = 0;
  let last: Failure | undefined;
  let rateLimited = false;
  routes: for (const route of routes) {
    const tried = new Set<string>();
    while (attempts < maxAttempts) {
      const ctx = await credentialFor(c, route, deps, tried, ir);
      if (!ctx) break; // every credential of this route is cooling down or already tried
      const credentialId = credentialIdOf(ctx);
      ctx.observe = (res) =>
        deps.quota.record(route.provider.id, credentialId, res.headers, res.status);
      attempts++;
      rec?.route(route.provider.id, credentialId, route.model);
      const outcome = await attempt(call, route, ctx);
      if (outcome.response) return outcome.response;
      const failure = outcome.failure;
      const verdict = classifyFailure(failure, state.config);
      last = verdict.kind === "auth" ? authFailure(route) : failure;
      if (!verdict.retry) return finalAnswer(failure);
      if (verdict.kind === "rate_limit") rateLimited = true;
      tried.add(credentialId);
      // A server error on a provider's only credential would, if cooled down, block all
      // traffic for the whole cooldown: only rate limits and auth failures bench it then.
      if (verdict.kind !== "server" || await credentialCount(route, deps) > 1) {
        await deps.cooldowns.coolDown(
          route.provider.id,
          credentialId,
          verdict.cooldownSeconds,
          verdict.kind,
        );
      }
      rec?.failed(failure.status, verdict.kind);
      deps.logger.info("attempt failed; moving on", {
        provider: route.provider.id,
        credential: credentialId,
        status: failure.status,
        kind: verdict.kind,
      });
      // An unreachable or timed-out endpoint fails for every key: go to the next route.
      if (verdict.kind === "network") continue routes;
    }
    if (attempts >= maxAttempts) break;
  }
  if (last && !rateLimited) return finalAnswer(last);
  // Nothing could answer: every credential is rate-limited (429) or benched after failures (503).
  const cooling = await cooldownSummary(routes, deps);
  const limited = rateLimited || cooling.rateLimited;
  if (!limited && cooling.retryAfter === undefined) {
    // Nothing is cooling down: the providers have no usable account (none seeded, all failed).
    throw new UpstreamError(
      503,
      `No usable account or key serves '${ir.model}' (none added, disabled, or refresh failed).`,
      { code: "no_usable_account" },
    );
  }
  throw new UpstreamError(
    limited ? 429 : 503,
    limited
      ? "Every upstream account for this model is rate-limited; retry later."
      : "Every upstream account for this model is cooling down after failures; retry later.",
    { code: "all_accounts_cooling_down", retryAfter: cooling.retryAfter },
  );
}

interface Call {
  c: Context;
  format: ClientFormat;
  hints: RequestHints;
  ir: IrRequest;
  raw: Uint8Array<ArrayBuffer>;
  json: Record<string, unknown>;
  deps: ConversationDeps;
}

/** A failed attempt: enough to classify it and, if it is the last, to answer with it. */
interface Failure {
  status: number;
  text: string;
  retryAfter?: number;
  network?: boolean;
  /** A native error answer (status, headers, body text) to relay as it came. */
  response?: Response;
  /** The error to throw (rendered in the caller's format) when there is no native answer. */
  error?: unknown;
}

/**
 * Candidate routes in order: the model's (or alias's) routes by priority — balanced by weight
 * inside a priority by the routing table — then the alias fallback chain's routes.
 */
export function planRoutes(state: RuntimeState, model: string): Route[] {
  const direct = state.routing.resolve(model);
  const chain = state.config.fallback.alias_fallback[model];
  // The common case, one route and no fallback chain, needs no planning.
  if (direct.length === 1 && !chain && upstreamFor(direct[0].provider.type)) return direct;
  const out: Route[] = [];
  const seen = new Set<string>();
  const add = (routes: Route[]): void => {
    for (const r of routes) {
      const key = `${r.provider.id}\u0000${r.model}`;
      if (seen.has(key) || !upstreamFor(r.provider.type)) continue;
      seen.add(key);
      out.push(r);
    }
  };
  add(direct);
  for (const next of chain ?? []) add(state.routing.resolve(next));
  return out;
}

/** The credential id used for cooldowns: the account id, or a hash of the API key. */
function credentialIdOf(ctx: CallContext): string {
  if (ctx.account) return ctx.account.id;
  return ctx.apiKey ? keyId(ctx.apiKey) : "no-key";
}

function baseContext(c: Context, route: Route): CallContext {
  const req = c.req.raw;
  return {
    provider: route.provider,
    model: route.model,
    // A getter: a server request creates its signal lazily, and that costs throughput.
    get signal(): AbortSignal {
      return req.signal;
    },
    clientHeaders: req.headers,
  };
}

/**
 * A call context with a credential that is neither cooling down nor in `tried`: the provider's
 * next API key, or a leased account with a fresh token. Undefined when there is none.
 */
async function credentialFor(
  c: Context,
  route: Route,
  deps: ConversationDeps,
  tried: ReadonlySet<string>,
  ir?: IrRequest,
): Promise<CallContext | undefined> {
  const provider = route.provider;
  const ctx = baseContext(c, route);
  // Both lookups are synchronous while their caches are fresh: no await on the hot path.
  const maybeCooling = deps.cooldowns.active(provider.id);
  const cooling = maybeCooling instanceof Promise ? await maybeCooling : maybeCooling;
  const skip = (id: string): boolean => tried.has(id) || cooling.has(id);
  // Session affinity: the conversation's earlier credential, while it is healthy.
  const session = provider.strategy === "session" && ir
    ? sessionKeyOf(c.req.raw.headers, ir)
    : undefined;
  const preferred = session ? deps.affinity.get(provider.id, session) : undefined;
  if (deps.accounts.usesAccounts(provider)) {
    const lease = (avoid: (id: string) => boolean) =>
      deps.accounts.lease(provider, ctx.signal, {
        skip: avoid,
        fillFirst: provider.strategy === "fill-first",
        prefer: preferred,
      });
    try {
      // Accounts with headroom first; the exhausted ones only when nothing else is left.
      ctx.account = await lease((id) => skip(id) || deps.quota.exhausted(provider.id, id))
        .catch((err) => {
          if (err instanceof GatewayError && err.code === "no_usable_account") return lease(skip);
          throw err;
        });
    } catch (err) {
      if (err instanceof GatewayError && err.code === "no_usable_account") return undefined;
      throw err;
    }
    if (session) deps.affinity.set(provider.id, session, ctx.account.id);
    return ctx;
  }
  const maybeStored = deps.accounts.apiKeysOf(provider.id);
  const stored = maybeStored instanceof Promise ? await maybeStored : maybeStored;
  const all = stored.length ? [...provider.api_keys, ...stored] : provider.api_keys;
  if (all.length === 0) return tried.size === 0 ? ctx : undefined; // keyless (e.g. local Ollama)
  const usable = tried.size === 0 && cooling.size === 0 ? all : all.filter((k) => !skip(keyId(k)));
  if (usable.length === 0) return undefined;
  // Prefer keys the upstream has not reported as out of requests for the current window.
  const roomy = deps.quota.anyExhausted
    ? usable.filter((k) => !deps.quota.exhausted(provider.id, keyId(k)))
    : usable;
  const pool = roomy.length > 0 ? roomy : usable;
  const sticky = preferred ? pool.find((k) => keyId(k) === preferred) : undefined;
  ctx.apiKey = sticky ??
    (provider.strategy === "fill-first" ? pool[0] : deps.keys.pick(provider.id, pool));
  if (session && ctx.apiKey) deps.affinity.set(provider.id, session, keyId(ctx.apiKey));
  return ctx;
}

/** The call context for one route, for callers outside the retry loop (count_tokens). */
export async function callContextFor(
  c: Context,
  route: Route,
  deps: ConversationDeps,
): Promise<CallContext> {
  const ctx = await credentialFor(c, route, deps, new Set());
  if (!ctx) {
    throw new UpstreamError(503, `No usable credential for provider '${route.provider.id}'.`, {
      code: "no_usable_account",
    });
  }
  return ctx;
}

/**
 * One attempt on one credential. An OAuth account answered with 401 is refreshed once and
 * retried (then, if that fails, another account is leased). Failures come back as data.
 */
async function attempt(
  call: Call,
  route: Route,
  ctx: CallContext,
): Promise<
  { response: Response; failure?: undefined } | { response?: undefined; failure: Failure }
> {
  const { deps } = call;
  const provider = route.provider;
  const upstream = upstreamFor(provider.type) as Upstream;
  let outcome = await sendCatching(call, upstream, ctx);
  if (ctx.account && outcome.failure?.status === 401) {
    const refused = ctx.account.id;
    try {
      ctx.account = await deps.accounts.relogin(provider, refused, ctx.signal);
      outcome = await sendCatching(call, upstream, ctx);
    } catch {
      // The refresh failed too (e.g. revoked): the loop moves on to another account.
    }
  }
  if (ctx.account) deps.accounts.record(provider.id, ctx.account.id, !outcome.failure);
  return outcome;
}

async function sendCatching(
  call: Call,
  upstream: Upstream,
  ctx: CallContext,
): Promise<
  { response: Response; failure?: undefined } | { response?: undefined; failure: Failure }
> {
  let res: Response;
  try {
    res = await send(call, upstream, ctx);
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err; // client gone, bad request, bug
    const network = err.code === "upstream_unreachable" || err.code === "upstream_timeout";
    return {
      failure: {
        status: err.status,
        text: err.message,
        retryAfter: err.retryAfter,
        network,
        error: err,
      },
    };
  }
  if (res.ok) return { response: res };
  // A native error answer: small, so it is read to classify it and rebuilt to relay it.
  const text = await res.text().catch(() => "");
  return {
    failure: {
      status: res.status,
      text,
      retryAfter: parseRetryAfter(res.headers.get("retry-after")),
      response: new Response(text, { status: res.status, headers: res.headers }),
    },
  };
}

/**
 * The upstream refused the gateway's own credential: a 401 would tell the client its key is
 * wrong, so the client gets a 503 naming the provider instead.
 */
function authFailure(route: Route): Failure {
  const error = new UpstreamError(
    503,
    `The upstream rejected the gateway's credentials for provider '${route.provider.id}'.`,
    { code: "upstream_auth_failed" },
  );
  return { status: 503, text: error.message, error };
}

function finalAnswer(failure: Failure): Response {
  if (failure.response) return failure.response;
  throw failure.error;
}

/** When the first cooldown ends (seconds from now) and whether any is a rate limit. */
async function cooldownSummary(
  routes: Route[],
  deps: ConversationDeps,
): Promise<{ retryAfter: number | undefined; rateLimited: boolean }> {
  let earliest = Infinity;
  let rateLimited = false;
  for (const r of routes) {
    for (const c of (await deps.cooldowns.active(r.provider.id)).values()) {
      earliest = Math.min(earliest, c.until);
      if (c.reason === "rate_limit") rateLimited = true;
    }
  }
  const retryAfter = Number.isFinite(earliest)
    ? Math.max(1, Math.ceil((earliest - Date.now()) / 1000))
    : undefined;
  return { retryAfter, rateLimited };
}

/** How many credentials the route's provider has (keys from config and KV, or accounts). */
async function credentialCount(route: Route, deps: ConversationDeps): Promise<number> {
  const p = route.provider;
  if (deps.accounts.usesAccounts(p)) return (await deps.accounts.accountsOf(p.id)).length;
  return p.api_keys.length + (await deps.accounts.apiKeysOf(p.id)).length;
}
async function send(call: Call, upstream: Upstream, ctx: CallContext): Promise<Response> {
  const { format, ir, hints } = call;
  // Only streams can be recovered; plain answers skip the settings altogether.
  const recovery = ir.stream
    ? recoverySettings(call.deps.state().config.fallback.stream_recovery)
    : undefined;
  // A recoverable stream goes through the IR even for the same format: native bytes cannot
  // be stitched with a continuation.
  const recover = recovery !== undefined && recoveryApplies(recovery, upstream.type, ir.stream);
  if (!recover && upstream.nativeFormat === format.id && upstream.forwardNative) {
    return await upstream.forwardNative({
      raw: call.raw,
      json: call.json,
      stream: ir.stream,
      hints,
    }, ctx);
  }
  const dropped = Object.keys(call.json).filter((k) => !format.knownFields.has(k));
  if (dropped.length > 0) {
    // Converted routes drop fields the IR cannot carry; same-format routes keep them.
    call.deps.logger.debug("fields dropped in conversion", {
      format: format.id,
      upstream: upstream.type,
      fields: dropped.join(","),
    });
  }
  if (!ir.stream) {
    const res = await upstream.send(ir, ctx);
    return Response.json(format.fromIrResponse(res, ir));
  }
  const events = recover
    ? await recoverableStream(upstream, ir, ctx, recovery, call.deps.logger)
    : await upstream.stream(ir, ctx);
  const encoded = format.encodeStream(ir, hints);
  return new Response(fuse(events, [encoded.transformer]), {
    headers: { "content-type": encoded.contentType, "cache-control": "no-cache" },
  });
}
