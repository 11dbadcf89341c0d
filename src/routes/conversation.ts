import type { Context } from "hono";
import type { KeyRotator } from "../accounts/key_rotation.ts";
import type { RuntimeState } from "../config/store.ts";
import { NotFoundError } from "../errors.ts";
import type { ClientFormat, RequestHints } from "../formats/client_format.ts";
import { readJsonBody } from "../http/body.ts";
import { upstreamFor } from "../upstreams/registry.ts";
import type { CallContext } from "../upstreams/types.ts";

export interface ConversationDeps {
  state: () => RuntimeState;
  keys: KeyRotator;
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

  const routes = state.routing.resolve(ir.model);
  const route = routes[0];
  const upstream = route ? upstreamFor(route.provider.type) : undefined;
  if (!route || !upstream) {
    throw new NotFoundError(
      `The model '${ir.model}' does not exist or is not routable on this gateway.`,
      "model_not_found",
    );
  }
  const ctx: CallContext = {
    provider: route.provider,
    model: route.model,
    apiKey: deps.keys.pick(route.provider.id, route.provider.api_keys),
    signal: c.req.raw.signal,
    clientHeaders: c.req.raw.headers,
  };

  if (upstream.nativeFormat === format.id && upstream.forwardNative) {
    return await upstream.forwardNative({
      raw,
      json: json as Record<string, unknown>,
      stream: ir.stream,
      hints,
    }, ctx);
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
