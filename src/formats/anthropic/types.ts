import type { JsonObject, JsonValue } from "../../ir/types.ts";

/**
 * The Anthropic Messages wire shapes this gateway writes (requests to Anthropic upstreams,
 * answers to Anthropic clients). Incoming bodies are described by the zod schemas in
 * `schema.ts` instead, since they must tolerate far more than we ever produce.
 */

export interface AnthropicTextBlock {
  type: "text";
  text: string;
  cache_control?: AnthropicCacheControl;
}

/** A prompt-cache breakpoint: everything up to and including the marked block is cached. */
export interface AnthropicCacheControl {
  type: "ephemeral";
  ttl?: string;
}

export interface AnthropicImageBlock {
  type: "image";
  source: { type: "base64"; media_type: string; data: string } | { type: "url"; url: string };
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: JsonObject;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content?: string | Array<AnthropicTextBlock | AnthropicImageBlock>;
  is_error?: boolean;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicThinkingBlock {
  type: "thinking";
  thinking: string;
  signature: string;
}

export interface AnthropicRedactedThinkingBlock {
  type: "redacted_thinking";
  data: string;
}

export type AnthropicContentBlock =
  | AnthropicTextBlock
  | AnthropicImageBlock
  | AnthropicToolUseBlock
  | AnthropicToolResultBlock
  | AnthropicThinkingBlock
  | AnthropicRedactedThinkingBlock;

export interface AnthropicMessageParam {
  role: "user" | "assistant";
  content: AnthropicContentBlock[];
}

export interface AnthropicToolParam {
  name: string;
  description?: string;
  input_schema: JsonObject;
  cache_control?: AnthropicCacheControl;
}

export type AnthropicToolChoice =
  | { type: "auto"; disable_parallel_tool_use?: boolean }
  | { type: "any"; disable_parallel_tool_use?: boolean }
  | { type: "tool"; name: string; disable_parallel_tool_use?: boolean }
  | { type: "none" };

/** A Messages request body as this gateway sends it upstream. */
export interface AnthropicRequestBody {
  model: string;
  messages: AnthropicMessageParam[];
  max_tokens: number;
  system?: string | AnthropicTextBlock[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  stream?: boolean;
  tools?: AnthropicToolParam[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: "enabled"; budget_tokens: number } | { type: "adaptive" };
  /** Adaptive thinking's depth (Claude Opus 4.6 and later). */
  output_config?: { effort: "low" | "medium" | "high" | "max" };
  metadata?: { user_id: string };
}

/** The `usage` object of a Message (and, cumulative, of `message_delta`). */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/** A Message as Anthropic returns it (non-streaming), and as `message_start` carries it. */
export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: Array<
    | AnthropicTextBlock
    | AnthropicToolUseBlock
    | AnthropicThinkingBlock
    | AnthropicRedactedThinkingBlock
  >;
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** Tool arguments text → the `input` object Anthropic requires (`{}` when not a JSON object). */
export function toolInputObject(args: string): JsonObject {
  try {
    const value = JSON.parse(args) as JsonValue;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}
