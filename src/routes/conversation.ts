import type { Context } from "hono";
import type { AccountManager } from "../accounts/manager.ts";
import type { Cooldowns } from "../accounts/cooldowns.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { toGatewayError, upstreamError } from "../errors.ts";
import type { ClientFormat, RequestHints } from "../formats/client_format.ts";
import { readJsonBody } from "../http/body.ts";
import type { Admission, ConversationLimits } from "../limits/conversation_limits.ts";
import { mentionsCarriedText } from "../formats/signature_carrier.ts";
import type { Logger } from "../observe/logger.ts";
import type { Observer, RequestRecord } from "../observe/observer.ts";
import type { QuotaBook } from "../observe/quota.ts";
import type { CredentialHealth } from "../routing/credential_health.ts";
import type { CredentialPool } from "../routing/credential_pool.ts";
import { callContext, dispatch, planRoutes } from "../routing/dispatch.ts";
import { forwardsNatively, recoveryFor } from "../routing/send_attempt.ts";
import { upstreamFor } from "../upstreams/registry.ts";
import type { IrRequest } from "../ir/types.ts";
import type { RequestHead } from "../formats/request_head.ts";
import type { Route } from "../routing/routing_table.ts";
import { ClientGoneError } from "../upstreams/fetch_upstream.ts";
import type { CallContext } from "../upstreams/types.ts";
import type { ClientKeys } from "../client_keys/service.ts";

export interface ConversationDeps {
  state: () => RuntimeState;
  pool: CredentialPool;
  health: CredentialHealth;
  accounts: AccountManager;
  cooldowns: Cooldowns;
  quota: QuotaBook;
  logger: Logger;
  /** Message count and concurrent-stream limits (`src/limits/conversation_limits.ts`). */
  limits?: ConversationLimits;
  /** Stats and the request log (`src/observe/observer.ts`); absent in some unit tests. */
  observer?: Observer;
  /** Managed client keys: allowlist, rate limits and budgets (`src/client_keys/`). */
  clientKeys?: ClientKeys;
}

/** Route-specific steps around dispatch (stateful Responses: the stored transcript). */
export interface ConversationHooks {
  /**
   * Rewrites the parsed body before it is converted; its result is what goes upstream.
   * `owner` is the caller's identity id (what stored state is kept under).
   */
  rewrite?(json: unknown, req: Request, owner: string): Promise<Record<string, unknown>>;
  /** Sees the answer of the rewritten body (e.g. to keep it); returns what the client gets. */
  answered?(
    res: Response,
    json: Record<string, unknown>,
    req: Request,
    owner: string,
  ): Promise<Response>;
}

/** Hooks run in order: `first` rewrites before `then`; answers pass `then` before `first`. */
export function chainHooks(first: ConversationHooks, then: ConversationHooks): ConversationHooks {
  return {
    async rewrite(json, req, owner) {
      const once = first.rewrite
        ? await first.rewrite(json, req, owner)
        : json as Record<string, unknown>;
      return then.rewrite ? await then.rewrite(once, req, owner) : once;
    },
    async answered(res, json, req, owner) {
      const once = then.answered ? await then.answered(res, json, req, owner) : res;
      return first.answered ? await first.answered(once, json, req, owner) : once;
    },
  };
}

/**
 * Serves one chat request in any client format: parse into the IR, admit it (limits), then
 * dispatch it (`src/routing/dispatch.ts`: routing, credentials, attempts, encoding). This is
 * the only layer that knows the HTTP framework.
 */
export async function handleConversation(
  c: Context,
  admission: Admission,
  format: ClientFormat,
  hints: RequestHints,
  deps: ConversationDeps,
  hooks?: ConversationHooks,
): Promise<Response> {
  const observer = deps.observer;
  if (!observer) return await serveConversation(c, admission, format, hints, deps, hooks);
  const rec = observer.begin(format.id, hints.model ?? "", hints.stream ?? false);
  const limits = deps.limits;
  if (limits) {
    // The observer's tap ends with the answer anyway: it gives back what the request holds,
    // so a stream is not wrapped a second time by the limits.
    admission.deferred = true;
    rec.onDone = () => limits.release(admission);
  }
  try {
    return await observer.track(
      rec,
      await serveConversation(c, admission, format, hints, deps, hooks, rec),
    );
  } catch (err) {
    observer.finish(rec, err instanceof ClientGoneError ? 499 : toGatewayError(err).status);
    throw err;
  }
}

async function serveConversation(
  c: Context,
  admission: Admission,
  format: ClientFormat,
  hints: RequestHints,
  deps: ConversationDeps,
  hooks: ConversationHooks | undefined,
  rec?: RequestRecord,
): Promise<Response> {
  const state = deps.state();
  const req = c.req.raw;
  const read = await readJsonBody(req, state.config.limits.max_body_bytes, {
    idleTimeoutMs: state.config.limits.body_idle_timeout_ms,
  });
  let { raw, json } = read;
  // Scanned here, on the text the parser had: values the gateway tagged (carried signatures)
  // send the body through the IR, which unpacks them.
  let carried = mentionsCarriedText(read.text);
  const owner = admission.identity.id;
  if (hooks?.rewrite) {
    const rewritten = await hooks.rewrite(json, req, owner);
    if (rewritten !== json) {
      json = rewritten;
      const text = JSON.stringify(rewritten);
      carried = mentionsCarriedText(text);
      raw = new TextEncoder().encode(text);
    }
  }
  const body = json as Record<string, unknown>;
  // The IR is made once, on first use: a same-format forward reads only the head. It is made
  // now when the first route converts, so a body that does not validate is refused before any
  // attempt.
  let ir: IrRequest | undefined = format.head ? undefined : format.toIr(body, hints);
  const irOf = (): IrRequest => ir ??= format.toIr(body, hints);
  const head = ir ? headOf(ir) : (format.head as NonNullable<ClientFormat["head"]>)(body, hints);
  const routes = planRoutes(state, head.model);
  if (!ir && !firstRouteForwards(state, format, head, carried, routes[0])) irOf();
  if (rec) {
    rec.model = head.model;
    rec.stream = head.stream;
  }
  deps.limits?.admit(admission, head, state.config.limits);
  deps.clientKeys?.admit(req, head.model, head.stream, rec);
  const res = await dispatch({
    format,
    hints,
    head,
    ir: irOf,
    raw,
    carried,
    json: body,
    headers: req.headers,
    signal: () => req.signal,
    record: rec,
    routes,
  }, deps);
  return hooks?.answered ? await hooks.answered(res, body, req, owner) : res;
}

function headOf(ir: IrRequest): RequestHead {
  return { model: ir.model, stream: ir.stream, messages: ir.messages.length };
}

/** Whether the first route of the model forwards the client's bytes (no IR needed for it). */
function firstRouteForwards(
  state: RuntimeState,
  format: ClientFormat,
  head: RequestHead,
  carried: boolean,
  route: Route | undefined,
): boolean {
  if (!route) return true; // no route: dispatch answers 404 without converting
  const upstream = upstreamFor(route.provider.type);
  return !recoveryFor(state, upstream, head.stream) &&
    forwardsNatively({ format, carried }, upstream, route.model);
}

/** The call context for one route, for callers outside the attempt loop (count_tokens). */
export async function callContextFor(
  c: Context,
  route: Route,
  deps: ConversationDeps,
): Promise<CallContext> {
  const req = c.req.raw;
  const credential = await deps.pool.acquire(route.provider, {
    tried: new Set(),
    signal: () => req.signal,
  });
  if (!credential) {
    throw upstreamError(
      "no_usable_account",
      `No usable credential for provider '${route.provider.id}'.`,
    );
  }
  return callContext(deps, route, credential, {
    headers: req.headers,
    signal: () => req.signal,
  });
}
