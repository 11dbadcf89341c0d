import { fuse } from "../http/fused_stream.ts";
import { jsonAnswer } from "../http/bytes_response.ts";
import { descriptorFor } from "../upstreams/registry.ts";
import type { Logger } from "../observe/logger.ts";
import type { RuntimeState } from "../runtime_state.ts";
import type { CallContext, Upstream } from "../upstreams/types.ts";
import type { DispatchRequest } from "./dispatch.ts";
import { recoverableStream, recoveryApplies, recoverySettings } from "./stream_recovery.ts";

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
  const { format, ir, hints } = req;
  // Only streams can be recovered; plain answers skip the settings altogether.
  const recovery = ir.stream
    ? recoverySettings(deps.state().config.fallback.stream_recovery)
    : undefined;
  // A recoverable stream goes through the IR even for the same format: native bytes cannot
  // be stitched with a continuation.
  const recover = recovery !== undefined && recoveryApplies(recovery, upstream.type, ir.stream);
  // A body holding values the gateway tagged (carried signatures) goes through the IR, which
  // unpacks them: forwarded as they are they would reach the upstream.
  if (
    !recover &&
    (upstream.nativeFormatFor?.(ctx.model) ?? descriptorFor(upstream.type).nativeFormat) ===
      format.id &&
    upstream.forwardNative &&
    !req.carried
  ) {
    return await upstream.forwardNative({
      raw: req.raw,
      json: req.json,
      stream: ir.stream,
      hints,
    }, ctx);
  }
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
  const events = recover
    ? await recoverableStream(upstream, ir, ctx, recovery, deps.logger)
    : await upstream.stream(ir, ctx);
  const encoded = format.encodeStream(ir, hints);
  return new Response(fuse(events, [encoded.transformer]), {
    headers: { "content-type": encoded.contentType, "cache-control": "no-cache" },
  });
}
