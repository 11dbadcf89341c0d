/**
 * The intermediate representation of a chat exchange. Every API format converts to and from
 * these types once; every upstream adapter consumes an IrRequest and yields an IrResponse or
 * a stream of IrEvents. Fields a format cannot express are simply absent.
 */

/** A JSON value, for tool arguments, schemas and opaque extras. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

export type JsonObject = { [key: string]: JsonValue };

export type IrRole = "system" | "user" | "assistant" | "tool";

/**
 * A prompt-cache breakpoint: the prompt up to and including the marked system part, tool or
 * message part is cached (Anthropic `cache_control`). Formats without one ignore it.
 */
export interface IrCacheMarker {
  /** Anthropic's cache lifetime ("5m", "1h"), when the client set one. */
  ttl?: string;
}

export interface IrTextPart {
  type: "text";
  text: string;
  cache?: IrCacheMarker;
}

export interface IrImagePart {
  type: "image";
  /** An http(s) URL, or inline base64 data with its media type. */
  source: { kind: "url"; url: string } | { kind: "base64"; mediaType: string; data: string };
  detail?: string;
  cache?: IrCacheMarker;
}

export interface IrToolCallPart {
  type: "tool_call";
  id: string;
  name: string;
  /** Arguments as a complete JSON text (`"{}"` when empty). */
  arguments: string;
  /** Gemini attaches a thoughtSignature to function-call parts; kept for the same family. */
  signature?: string;
  origin?: IrOrigin;
  cache?: IrCacheMarker;
}

export interface IrToolResultPart {
  type: "tool_result";
  toolCallId: string;
  /** The function name, when the format carries it (Gemini needs it). */
  name?: string;
  content: Array<IrTextPart | IrImagePart>;
  isError?: boolean;
  cache?: IrCacheMarker;
}

/** The API family whose backend produced a signature; signatures only validate there. */
export type IrOrigin = "openai" | "anthropic" | "gemini";

export interface IrReasoningPart {
  type: "reasoning";
  text: string;
  /** Backend-bound signature (Anthropic thinking signature, Gemini thoughtSignature). */
  signature?: string;
  /** Opaque redacted/encrypted reasoning that only the producing backend can read. */
  redacted?: string;
  /** Who produced `signature`/`redacted`; encoders for another family drop them. */
  origin?: IrOrigin;
}

export type IrPart =
  | IrTextPart
  | IrImagePart
  | IrToolCallPart
  | IrToolResultPart
  | IrReasoningPart;

export interface IrMessage {
  role: IrRole;
  parts: IrPart[];
}

export interface IrTool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: JsonObject;
  cache?: IrCacheMarker;
}

export type IrToolChoice =
  | { type: "auto" }
  | { type: "none" }
  | { type: "required" }
  | { type: "tool"; name: string };

export interface IrRequest {
  /** The model name the client asked for. */
  model: string;
  system: IrPart[];
  messages: IrMessage[];
  tools: IrTool[];
  toolChoice?: IrToolChoice;
  parallelToolCalls?: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop: string[];
  seed?: number;
  n?: number;
  responseFormat?: { type: "text" } | { type: "json_object" } | {
    type: "json_schema";
    name?: string;
    schema: JsonObject;
    strict?: boolean;
  };
  /**
   * Reasoning/thinking settings: an effort level (OpenAI), a token budget (Anthropic
   * `budget_tokens`, Gemini `thinkingBudget`), whether thoughts are returned; `enabled: false`
   * means the client turned thinking off explicitly.
   */
  reasoning?: {
    enabled?: boolean;
    effort?: "minimal" | "low" | "medium" | "high";
    budgetTokens?: number;
    includeThoughts?: boolean;
  };
  stream: boolean;
  /** Whether a streaming client asked for a final usage record (OpenAI `stream_options`). */
  includeUsage?: boolean;
  user?: string;
  /**
   * The client's prompt-cache routing key (OpenAI `prompt_cache_key`, sent by Codex): forwarded
   * to OpenAI upstreams, and a stable per-conversation key for session affinity.
   */
  promptCacheKey?: string;
}

export type IrFinishReason =
  | "stop"
  | "length"
  | "tool_calls"
  | "content_filter"
  | "error"
  | "other";

export interface IrUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
  /** Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`), within `inputTokens`. */
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

export interface IrResponse {
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
  content: IrPart[];
  finishReason: IrFinishReason;
  usage?: IrUsage;
}

/**
 * One step of a streamed answer. The answer is a sequence of content blocks (text, reasoning,
 * tool call), each streamed as start → deltas → end, like Anthropic's content blocks; `block`
 * is the block's 0-based position among all blocks of the answer. Decoders may emit only the
 * deltas: `withBlocks` (src/ir/blockify.ts), in front of every encoder, inserts the starts and
 * ends and numbers the blocks, so encoders always see well-formed streams (see there).
 */
export type IrEvent =
  | { type: "start"; id: string; model: string; created: number }
  | { type: "text_start"; block: number }
  | { type: "text_delta"; text: string }
  /** `cut`: the answer stopped inside this block (a length, content-filter or error finish). */
  | { type: "text_end"; block: number; cut?: true }
  | { type: "reasoning_start"; block: number }
  | {
    type: "reasoning_delta";
    text: string;
    /** Arrives with (or after) the reasoning text it signs. */
    signature?: string;
    redacted?: string;
    origin?: IrOrigin;
  }
  | { type: "reasoning_end"; block: number; cut?: true }
  | {
    type: "tool_call_start";
    /** 0-based position among this answer's tool calls. */
    index: number;
    /** Position among all content blocks; set by `withBlocks`, decoders leave it out. */
    block?: number;
    id: string;
    name: string;
    signature?: string;
    origin?: IrOrigin;
  }
  | { type: "tool_call_delta"; index: number; argumentsDelta: string }
  | { type: "tool_call_end"; index: number; cut?: true }
  | { type: "finish"; reason: IrFinishReason; usage?: IrUsage }
  /** The upstream failed after the stream started; encoders emit their in-stream error form. */
  | { type: "error"; status: number; message: string };
