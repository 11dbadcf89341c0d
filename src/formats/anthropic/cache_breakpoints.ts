import type { AnthropicCacheControl, AnthropicRequestBody } from "./types.ts";

const EPHEMERAL: AnthropicCacheControl = { type: "ephemeral" };

/**
 * Marks the system prompt, the tool list and the last user turn as prompt-cache breakpoints
 * (three of Anthropic's four), so clients whose format has no `cache_control` (OpenAI, Gemini)
 * still get Anthropic's cache discount on their long, repeated prefixes. A body that already
 * carries breakpoints is left as it is.
 */
export function addCacheBreakpoints(body: AnthropicRequestBody): void {
  if (hasBreakpoint(body)) return;
  if (typeof body.system === "string" && body.system !== "") {
    body.system = [{ type: "text", text: body.system, cache_control: EPHEMERAL }];
  } else if (Array.isArray(body.system) && body.system.length > 0) {
    body.system[body.system.length - 1].cache_control = EPHEMERAL;
  }
  const lastTool = body.tools?.at(-1);
  if (lastTool) lastTool.cache_control = EPHEMERAL;
  const lastUser = body.messages.findLast((m) => m.role === "user");
  const block = lastUser?.content.at(-1);
  // Thinking blocks cannot be marked; user turns hold text, images and tool results.
  if (block && block.type !== "thinking" && block.type !== "redacted_thinking") {
    (block as { cache_control?: AnthropicCacheControl }).cache_control = EPHEMERAL;
  }
}

function hasBreakpoint(body: AnthropicRequestBody): boolean {
  const marked = (v: object): boolean => "cache_control" in v;
  return (Array.isArray(body.system) && body.system.some(marked)) ||
    (body.tools ?? []).some(marked) ||
    body.messages.some((m) => m.content.some(marked));
}
