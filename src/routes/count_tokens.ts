import type { Context } from "hono";
import { estimateInputTokens } from "../ir/estimate_tokens.ts";
import type { IrRequest } from "../ir/types.ts";
import type { Logger } from "../observe/logger.ts";
import { upstreamFor } from "../upstreams/registry.ts";
import { callContextFor, type ConversationDeps } from "./conversation.ts";

/**
 * Input tokens for the count_tokens routes: the local estimate (fast and free; Claude Code
 * calls this many times a second), or the upstream's own count when the serving provider is
 * configured with `count_tokens: "upstream"` and can count. A failed upstream count falls
 * back to the estimate rather than failing the caller.
 */
export async function countInputTokens(
  c: Context,
  ir: IrRequest,
  deps: ConversationDeps & { logger: Logger },
): Promise<number> {
  const route = deps.state().routing.resolve(ir.model)[0];
  const upstream = route ? upstreamFor(route.provider.type) : undefined;
  if (route && upstream?.countTokens && route.provider.count_tokens === "upstream") {
    try {
      return await upstream.countTokens(ir, await callContextFor(c, route, deps));
    } catch (err) {
      deps.logger.debug("upstream token count failed; using the estimate", {
        provider: route.provider.id,
        error: err instanceof Error ? err.message : "error",
      });
    }
  }
  return estimateInputTokens(ir);
}
