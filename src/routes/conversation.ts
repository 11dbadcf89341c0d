import type { Context } from "hono";
import type { KeyRotator } from "../accounts/key_rotation.ts";
import type { Logger } from "../observe/logger.ts";
import type { AccountManager } from "../accounts/manager.ts";
import type { RuntimeState } from "../config/store.ts";
import { GatewayError, NotFoundError, UpstreamError } from "../errors.ts";
import type { ClientFormat, RequestHints } from "../formats/client_format.ts";
import { readJsonBody } from "../http/body.ts";
import type { IrRequest } from "../ir/types.ts";
import type { Route } from "../routing/routing_table.ts";
import { upstreamFor } from "../upstreams/registry.ts";
import type { CallContext, Upstream } from "../upstreams/types.ts";

export interface ConversationDeps {
  state: () => RuntimeState;
  keys: KeyRotator;
  accounts: AccountManager;
  logger: Logger;
}

/**
 * Serves one chat request in any client format: validate into the IR, route by model, then
 * either forward untouched (the upstream speaks the client's format) or convert through the IR.
 */
export async function handleConversation(
  c: Context,
  format: ClientFormat,
  hints: RequestHints,
  deps: ConversationDeps,
): Promise<Response> {
  const state = deps.state();
  const { raw, json } = await readJsonBody(c.req.raw, state.config.limits.max_body_bytes);
  const ir = format.toIr(json, hints);

  const routes = state.routing.resolve(ir.model).filter((r) => upstreamFor(r.provider.type));
  if (routes.length === 0) {
    throw new NotFoundError(
      `The model '${ir.model}' does not exist or is not routable on this gateway.`,
      "model_not_found",
    );
  }
  const call: Call = { c, format, hints, ir, raw, json: json as Record<string, unknown>, deps };
  let lastError: unknown;
  for (const route of routes) {
    try {
      return await attempt(call, route);
    } catch (err) {
      // A route with no usable account gives way to the next route; other errors are final.
      if (err instanceof GatewayError && err.code === "no_usable_account") {
        lastError = err;
        continue;
      }
      throw err;
    }
  }
  throw lastError;
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

/**
 * The call context for one route: the provider's next API key, or a leased OAuth/service
 * account with a fresh token (UpstreamError 503 when none is usable).
 */
export async function callContextFor(
  c: Context,
  route: Route,
  deps: ConversationDeps,
): Promise<CallContext> {
  const provider = route.provider;
  const req = c.req.raw;
  const ctx: CallContext = {
    provider,
    model: route.model,
    // A getter: a server request creates its signal lazily, and that costs throughput.
    get signal(): AbortSignal {
      return req.signal;
    },
    clientHeaders: req.headers,
  };
  if (deps.accounts.usesAccounts(provider)) {
    ctx.account = await deps.accounts.lease(provider, ctx.signal);
  } else {
    const stored = await deps.accounts.apiKeysOf(provider.id);
    const keys = stored.length ? [...provider.api_keys, ...stored] : provider.api_keys;
    ctx.apiKey = deps.keys.pick(provider.id, keys);
  }
  return ctx;
}

/** One route: pick the credential, call, and on a 401 from an OAuth account refresh once and retry. */
async function attempt(call: Call, route: Route): Promise<Response> {
  const { deps, c } = call;
  const provider = route.provider;
  const upstream = upstreamFor(provider.type) as Upstream;
  const ctx = await callContextFor(c, route, deps);
  if (!ctx.account) return await send(call, upstream, ctx);

  const signal = ctx.signal;
  let res: Response;
  try {
    res = await send(call, upstream, ctx);
  } catch (err) {
    if (!(err instanceof UpstreamError && err.status === 401)) {
      deps.accounts.record(provider.id, ctx.account.id, false);
      throw err;
    }
    res = new Response(null, { status: 401 });
  }
  if (res.status === 401) {
    await res.body?.cancel();
    const refused = ctx.account.id;
    try {
      ctx.account = await deps.accounts.relogin(provider, refused, signal);
    } catch {
      // The refresh failed too (e.g. revoked): another account of the provider, if any.
      deps.accounts.record(provider.id, refused, false);
      ctx.account = await deps.accounts.lease(provider, signal, new Set([refused]));
    }
    res = await send(call, upstream, ctx);
  }
  deps.accounts.record(provider.id, ctx.account.id, res.ok);
  return res;
}

async function send(call: Call, upstream: Upstream, ctx: CallContext): Promise<Response> {
  const { format, ir, hints } = call;
  if (upstream.nativeFormat === format.id && upstream.forwardNative) {
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
  const events = await upstream.stream(ir, ctx);
  const encoded = format.encodeStream(ir, hints);
  return new Response(events.pipeThrough(encoded.stream), {
    headers: { "content-type": encoded.contentType, "cache-control": "no-cache" },
  });
}
