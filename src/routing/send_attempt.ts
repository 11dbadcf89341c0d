import { fuse } from "../http/fused_stream.ts";
import { jsonAnswer } from "../http/bytes_response.ts";
import { descriptorFor } from "../upstreams/registry.ts";
import type { Logger } from "../observe/logger.ts";
import type { RuntimeState } from "../runtime_state.ts";
import type { CallContext, Upstream } from "../upstreams/types.ts";
import type { DispatchRequest } from "./dispatch.ts";
import {
  recoverableStream,
  recoveryApplies,
  recoverySettings,
  type StreamRecoverySettings,
} from "./stream_recovery.ts";

/**
 * Sends one attempt and encodes its answer for the client: forwarded untouched when the
 * upstream speaks the client's format, else converted through the IR (streams fused into one
 * pull-based pipeline). Throws UpstreamError when the upstream fails before answering.
 */
export async function sendAttempt(
  req: DispatchRequest,
  upstream: Upstream,
  ctx: CallContext,
  deps: { state: () => RuntimeState; logger: Logger },
): Promise<Response> {
  const { format, head, hints } = req;
  const recovery = recoveryFor(deps.state(), upstream, head.stream);
  if (!recovery && forwardsNatively(req, upstream, ctx.model) && upstream.forwardNative) {
    return await upstream.forwardNative({
      raw: req.raw,
      json: req.json,
      stream: head.stream,
      hints,
    }, ctx);
  }
  const ir = req.ir();
  const dropped = Object.keys(req.json).filter((k) => !format.knownFields.has(k));
  if (dropped.length > 0) {
    // Converted routes drop fields the IR cannot carry; same-format routes keep them.
    deps.logger.debug("fields dropped in conversion", {
      format: format.id,
      upstream: upstream.type,
      fields: dropped.join(","),
    });
  }
  if (!ir.stream) {
    const res = await upstream.send(ir, ctx);
    return jsonAnswer(format.fromIrResponse(res, ir));
  }
  const events = recovery
    ? await recoverableStream(upstream, ir, ctx, recovery, deps.logger)
    : await upstream.stream(ir, ctx);
  const encoded = format.encodeStream(ir, hints);
  return new Response(fuse(events, [encoded.transformer]), {
    headers: { "content-type": encoded.contentType, "cache-control": "no-cache" },
  });
}

/**
 * The stream recovery settings when this attempt's stream is recoverable, else undefined. A
 * recoverable stream goes through the IR even for the same format: native bytes cannot be
 * stitched with a continuation. Only streams can be recovered.
 */
export function recoveryFor(
  state: RuntimeState,
  upstream: Upstream,
  stream: boolean,
): StreamRecoverySettings | undefined {
  if (!stream) return undefined;
  const settings = recoverySettings(state.config.fallback.stream_recovery);
  return recoveryApplies(settings, upstream.type, true) ? settings : undefined;
}

/**
 * Whether the request goes to this upstream as the client's own bytes: the upstream speaks
 * the client's format (for this model) and can forward, and the body holds nothing the gateway
 * tagged (carried signatures), which only the IR unpacks — forwarded, they would reach the
 * upstream. Stream recovery is decided apart (`recoveryFor`).
 */
export function forwardsNatively(
  req: Pick<DispatchRequest, "format" | "carried">,
  upstream: Upstream,
  model: string,
): boolean {
  return !req.carried && upstream.forwardNative !== undefined &&
    (upstream.nativeFormatFor?.(model) ?? descriptorFor(upstream.type).nativeFormat) ===
      req.format.id;
}
