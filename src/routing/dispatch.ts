import { GatewayError, NotFoundError, UpstreamError, upstreamError } from "../errors.ts";
import type { ClientFormat, RequestHints } from "../formats/client_format.ts";
import type { IrRequest } from "../ir/types.ts";
import type { RequestHead } from "../formats/request_head.ts";
import type { Logger } from "../observe/logger.ts";
import type { RequestRecord } from "../observe/observer.ts";
import type { QuotaBook } from "../observe/quota.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { parseRetryAfter } from "../upstreams/fetch_upstream.ts";
import { upstreamFor } from "../upstreams/registry.ts";
import { imageFetchSettingsOf } from "../formats/gemini/image_fetch.ts";
import type { CallContext, Upstream } from "../upstreams/types.ts";
import type { CredentialHealth } from "./credential_health.ts";
import type { CredentialPool, PooledCredential } from "./credential_pool.ts";
import { classifyFailure, type FailureFacts } from "./failure.ts";
import type { Route } from "./routing_table.ts";
import { sessionKeyOf } from "./session_affinity.ts";
import { sendAttempt } from "./send_attempt.ts";
import { AttemptContext } from "./attempt_context.ts";

/** One client request, as plain data: no HTTP framework below this line. */
export interface DispatchRequest {
  format: ClientFormat;
  hints: RequestHints;
  /** What routing and the same-format path read (`model`, `stream`). */
  head: RequestHead;
  /**
   * The request in the IR, made on first use and kept: a same-format forward never needs it.
   * Throws RequestError when the body does not validate.
   */
  ir(): IrRequest;
  /** The body as the client sent it (forwarded untouched on same-format routes). */
  raw: Uint8Array<ArrayBuffer>;
  /** The body holds values the gateway tagged (carried signatures): it must go through the IR. */
  carried: boolean;
  json: Record<string, unknown>;
  /** The client's request headers (adapters copy a few protocol headers they own). */
  headers: Headers;
  /**
   * The client's abort signal, produced on demand: a server request creates its signal lazily
   * and that costs throughput, so only slow or refreshing paths ask for it.
   */
  signal: () => AbortSignal;
  /** The request's stats and log record, when observed. */
  record?: RequestRecord;
  /**
   * The model's routes when the caller planned them already (`planRoutes`): planning balances
   * weights, so it must happen once per request.
   */
  routes?: Route[];
}

export interface DispatchDeps {
  state: () => RuntimeState;
  pool: CredentialPool;
  health: CredentialHealth;
  quota: QuotaBook;
  logger: Logger;
}

/** A failed attempt: enough to classify it and, if it is the last, to answer with it. */
interface Failure extends FailureFacts {
  /** A native error answer (status, headers, body text) to relay as it came. */
  response?: Response;
  /** The error to throw (rendered in the caller's format) when there is no native answer. */
  error?: unknown;
}

type Outcome = { response: Response; failure?: undefined } | {
  response?: undefined;
  failure: Failure;
};

/**
 * Serves one request: routes by model, then runs the attempt loop — credential → attempt →
 * verdict → next credential, next route by priority, then the alias fallback chain, at most
 * `fallback.max_retries` retries — before the first byte reaches the client. The verdict
 * decides what a failure does to the credential (`src/routing/failure.ts`,
 * `credential_health.ts`): a request's own fault benches nothing. When every credential for
 * the model is out for server-side reasons, the one whose ejection ends first is tried anyway
 * (panic routing), so a recovered upstream is found and a failing one answers with its error.
 */
export function dispatch(req: DispatchRequest, deps: DispatchDeps): Promise<Response> {
  return runAttempts({
    model: req.head.model,
    routes: req.routes,
    headers: req.headers,
    signal: req.signal,
    record: req.record,
    session: () => sessionKeyOf(req.headers, req.ir()),
    send: (upstream, ctx) => sendAttempt(req, upstream, ctx, deps),
  }, deps);
}

/**
 * One operation the attempt loop can run on any route and credential: chat (`dispatch`),
 * embeddings (`src/routes/embeddings.ts`). `send` throws UpstreamError when the upstream fails
 * before answering, or returns the answer for the client (a non-2xx one is a native error).
 */
export interface Operation {
  /** The model (or alias) the client asked for. */
  model: string;
  /** Its routes, if planned already (see `DispatchRequest.routes`). */
  routes?: Route[];
  headers: Headers;
  signal: () => AbortSignal;
  record?: RequestRecord;
  /** The conversation's key, for `strategy: session` providers; none when absent. */
  session?: () => string | undefined;
  send(upstream: Upstream, ctx: CallContext): Promise<Response>;
}

/** The attempt loop of `dispatch`, for any operation (see there). */
export async function runAttempts(req: Operation, deps: DispatchDeps): Promise<Response> {
  const state = deps.state();
  const model = req.model;
  const routes = req.routes ?? planRoutes(state, model);
  if (routes.length === 0) {
    throw new NotFoundError(
      `The model '${model}' does not exist or is not routable on this gateway.`,
      "model_not_found",
    );
  }
  const rec = req.record;
  const maxAttempts = state.config.fallback.max_retries + 1;
  const session = req.session && routes.some((r) => r.provider.strategy === "session")
    ? req.session()
    : undefined;
  const triedByRoute = new Map<Route, Set<string>>();
  let attempts = 0;
  let last: Failure | undefined;
  let rateLimited = false;

  const run = async (route: Route, credential: PooledCredential): Promise<Outcome> => {
    attempts++;
    rec?.route(route.provider.id, credential.id, route.model);
    const outcome = await attempt(req, route, credential, deps);
    if (outcome.response) {
      deps.health.succeeded(route.provider.id, credential.id);
      return outcome;
    }
    const failure = outcome.failure;
    const verdict = classifyFailure(failure, state.config);
    const health = await deps.health.failed(
      route.provider.id,
      credential.id,
      verdict,
      failure.status,
      await deps.pool.size(route.provider),
      state.config.failure_policy,
    );
    rec?.failed(failure.status, verdict.kind, health);
    last = verdict.kind === "auth" ? authFailure(route) : failure;
    if (verdict.kind === "rate_limit") rateLimited = true;
    if (!verdict.retry) return { response: finalAnswer(failure) };
    deps.logger.info("attempt failed; moving on", {
      provider: route.provider.id,
      credential: credential.id,
      status: failure.status,
      kind: verdict.kind,
      ejected: health.ejected,
    });
    return outcome;
  };

  routes: for (const route of routes) {
    const tried = new Set<string>();
    triedByRoute.set(route, tried);
    while (attempts < maxAttempts) {
      const credential = await deps.pool.acquire(route.provider, {
        tried,
        session,
        signal: req.signal,
      });
      if (!credential) break; // every credential of this route is benched or already tried
      tried.add(credential.id);
      const outcome = await run(route, credential);
      if (outcome.response) return outcome.response;
      // An unreachable or timed-out endpoint fails for every key: go to the next route.
      if (outcome.failure.network) continue routes;
    }
    if (attempts >= maxAttempts) break;
  }

  // Panic routing: nothing healthy was left to try, but credentials ejected for server-side
  // failures are — the one whose ejection ends first gets the request.
  if (state.config.failure_policy.panic_routing) {
    while (attempts < maxAttempts) {
      const pick = await panicPick(routes, triedByRoute, deps);
      if (!pick) break;
      const credential = await deps.pool.acquireExact(pick.route.provider, pick.id, req.signal);
      pick.tried.add(pick.id);
      if (!credential) continue;
      if (rec) {
        rec.panic = true;
        rec.panics++;
      }
      deps.logger.info("panic routing: every credential is ejected; trying one anyway", {
        provider: pick.route.provider.id,
        credential: pick.id,
      });
      const outcome = await run(pick.route, credential);
      if (rec) rec.panic = false;
      if (outcome.response) return outcome.response;
    }
  }

  if (last && !rateLimited) return finalAnswer(last);
  // Nothing could answer: every credential is rate-limited (429) or benched.
  const cooling = await cooldownSummary(routes, deps.pool);
  const limited = rateLimited || cooling.rateLimited;
  if (!limited && cooling.retryAfter === undefined) {
    // Nothing is cooling down: the providers have no usable account (none seeded, all failed).
    throw upstreamError(
      "no_usable_account",
      `No usable account or key serves '${model}' (none added, disabled, or refresh failed).`,
    );
  }
  throw new UpstreamError(
    limited ? 429 : 503,
    limited
      ? "Every upstream account for this model is rate-limited; retry later."
      : "Every upstream account for this model is benched after failures; retry later.",
    { code: "all_accounts_cooling_down", retryAfter: cooling.retryAfter },
  );
}

/**
 * Candidate routes in order: the model's (or alias's) routes by priority — balanced by weight
 * inside a priority by the routing table — then the alias fallback chain's routes.
 */
export function planRoutes(state: RuntimeState, model: string): Route[] {
  const direct = state.routing.resolve(model);
  const chain = state.config.fallback.alias_fallback[model];
  // The common case, one route and no fallback chain, needs no planning.
  if (direct.length === 1 && !chain) return direct;
  const out: Route[] = [];
  const seen = new Set<string>();
  const add = (routes: Route[]): void => {
    for (const r of routes) {
      const key = `${r.provider.id}\u0000${r.model}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
    }
  };
  add(direct);
  for (const next of chain ?? []) add(state.routing.resolve(next));
  return out;
}

/** The call context of one attempt (what the adapter needs: where, as whom, when to stop). */
export function callContext(
  deps: { state: () => RuntimeState; logger: Logger },
  route: Route,
  credential: PooledCredential,
  req: Pick<DispatchRequest, "headers" | "signal">,
): CallContext {
  return new AttemptContext({
    provider: route.provider,
    model: route.model,
    // Image URLs the adapter must inline go through the SSRF guard with the operator's allow
    // list and the per-request bounds (one cached object per config).
    imageFetch: imageFetchSettingsOf(deps.state().config),
    logger: deps.logger,
    signal: req.signal,
    clientHeaders: req.headers,
    apiKey: credential.apiKey,
    account: credential.account,
  });
}

/**
 * One attempt on one credential. An OAuth account answered with 401 is refreshed once and
 * retried (then, if that fails, the loop moves on). Failures come back as data.
 */
async function attempt(
  req: Operation,
  route: Route,
  credential: PooledCredential,
  deps: DispatchDeps,
): Promise<Outcome> {
  const provider = route.provider;
  const upstream = upstreamFor(provider.type);
  const ctx = callContext(deps, route, credential, req);
  ctx.observe = (res) => deps.quota.record(provider.id, credential.id, res.headers, res.status);
  let outcome = await sendCatching(req, upstream, ctx);
  if (credential.account && outcome.failure?.status === 401) {
    try {
      const fresh = await deps.pool.relogin(provider, credential, req.signal());
      ctx.account = fresh.account;
      outcome = await sendCatching(req, upstream, ctx);
    } catch {
      // The refresh failed too (e.g. revoked): the loop moves on to another account.
    }
  }
  deps.pool.record(provider, credential, !outcome.failure);
  return outcome;
}

async function sendCatching(
  req: Operation,
  upstream: Upstream,
  ctx: CallContext,
): Promise<Outcome> {
  let res: Response;
  try {
    res = await req.send(upstream, ctx);
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err; // client gone, bad request, bug
    const network = err.code === "upstream_unreachable" || err.code === "upstream_timeout";
    const failure: Failure = { status: err.status, text: err.message, network, error: err };
    if (err.retryAfter !== undefined) failure.retryAfter = err.retryAfter;
    if (err.code !== undefined) failure.code = err.code;
    return { failure };
  }
  if (res.ok) return { response: res };
  // A native error answer: small, so it is read to classify it and rebuilt to relay it.
  const text = await res.text().catch(() => "");
  const failure: Failure = {
    status: res.status,
    text,
    response: new Response(text, { status: res.status, headers: res.headers }),
  };
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  if (retryAfter !== undefined) failure.retryAfter = retryAfter;
  return { failure };
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
  if (failure.error instanceof GatewayError) throw failure.error;
  throw new UpstreamError(failure.status, failure.text);
}

/** The untried, server-ejected credential whose ejection ends first, over every route. */
async function panicPick(
  routes: Route[],
  triedByRoute: Map<Route, Set<string>>,
  deps: DispatchDeps,
): Promise<{ route: Route; id: string; tried: Set<string> } | undefined> {
  let best: { route: Route; id: string; tried: Set<string>; until: number } | undefined;
  for (const route of routes) {
    let tried = triedByRoute.get(route);
    if (!tried) triedByRoute.set(route, tried = new Set());
    const c = await deps.pool.panicCandidate(route.provider, tried);
    if (c && (!best || c.until < best.until)) best = { route, id: c.id, tried, until: c.until };
  }
  return best;
}

/** When the first cooldown ends (seconds from now) and whether any is a rate limit. */
async function cooldownSummary(
  routes: Route[],
  pool: CredentialPool,
): Promise<{ retryAfter: number | undefined; rateLimited: boolean }> {
  let earliest = Infinity;
  let rateLimited = false;
  for (const r of routes) {
    for (const c of await pool.benched(r.provider)) {
      earliest = Math.min(earliest, c.until);
      if (c.reason === "rate_limit") rateLimited = true;
    }
  }
  const retryAfter = Number.isFinite(earliest)
    ? Math.max(1, Math.ceil((earliest - Date.now()) / 1000))
    : undefined;
  return { retryAfter, rateLimited };
}
