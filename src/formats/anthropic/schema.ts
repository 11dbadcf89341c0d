import { z } from "zod";

/**
 * Zod schemas for Anthropic Messages bodies. Objects are loose (unknown fields pass) and every
 * tagged object (content blocks, image sources, thinking configs) goes through `tagged()`:
 * a known `type` is checked strictly, so a broken block gets a precise error naming its field,
 * while an unknown `type` (new server tools, beta blocks) parses as an `UnknownBlock` that the
 * converters skip. Newer clients therefore never get a 400 for something we do not model.
 */

/** A tagged object whose `type` the gateway does not model; converters skip it. */
export interface UnknownBlock {
  type: "unknown";
  originalType: string;
}

type KnownSchemas = Record<string, z.ZodType>;
type TaggedOutput<M extends KnownSchemas> = { [K in keyof M]: z.output<M[K]> }[keyof M];

function tagged<M extends KnownSchemas>(
  known: M,
  what: string,
): z.ZodType<TaggedOutput<M> | UnknownBlock> {
  return z.looseObject({ type: z.string({ error: `each ${what} needs a string 'type'` }) })
    .transform((value, ctx): TaggedOutput<M> | UnknownBlock => {
      const schema = Object.hasOwn(known, value.type) ? known[value.type] : undefined;
      if (schema === undefined) return { type: "unknown", originalType: value.type };
      const parsed = schema.safeParse(value);
      if (parsed.success) return parsed.data as TaggedOutput<M>;
      for (const issue of parsed.error.issues) {
        ctx.addIssue({ code: "custom", message: issue.message, path: [...issue.path] });
      }
      return z.NEVER;
    });
}

/**
 * A string or an array of `item`. Unlike `z.union`, a bad array element reports its own
 * field (`content[2].source.data`) instead of a vague "invalid input" on the whole union.
 */
function stringOrArray<T extends z.ZodType>(
  item: T,
  error: string,
): z.ZodType<string | Array<z.output<T>>> {
  const array = z.array(item);
  return z.unknown().transform((value, ctx): string | Array<z.output<T>> => {
    if (typeof value === "string") return value;
    if (!Array.isArray(value)) {
      ctx.addIssue({ code: "custom", message: error });
      return z.NEVER;
    }
    const parsed = array.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: "custom", message: issue.message, path: [...issue.path] });
    }
    return z.NEVER;
  });
}

const cacheControl = z.looseObject({ type: z.string() }).nullish();

export const textBlockSchema = z.looseObject({
  type: z.literal("text"),
  text: z.string({ error: "a text block needs a string 'text'" }),
  cache_control: cacheControl,
});

const base64Source = z.looseObject({
  type: z.literal("base64"),
  media_type: z.string({ error: "a base64 source needs a 'media_type'" }),
  data: z.string({ error: "a base64 source needs 'data'" }),
});
const urlSource = z.looseObject({
  type: z.literal("url"),
  url: z.string({ error: "a url source needs a 'url'" }).min(1),
});
const plainTextSource = z.looseObject({
  type: z.literal("text"),
  media_type: z.string().nullish(),
  data: z.string({ error: "a text source needs 'data'" }),
});

export const imageBlockSchema = z.looseObject({
  type: z.literal("image"),
  source: tagged({ base64: base64Source, url: urlSource }, "image source"),
  cache_control: cacheControl,
});

export const documentBlockSchema = z.looseObject({
  type: z.literal("document"),
  source: tagged({ base64: base64Source, url: urlSource, text: plainTextSource }, "source"),
  title: z.string().nullish(),
});

export const toolUseBlockSchema = z.looseObject({
  type: z.literal("tool_use"),
  id: z.string({ error: "a tool_use block needs a string 'id'" }),
  name: z.string({ error: "a tool_use block needs a string 'name'" }),
  input: z.unknown().optional(),
});

const toolResultContent = stringOrArray(
  tagged({ text: textBlockSchema, image: imageBlockSchema }, "tool_result block"),
  "tool_result content must be a string or an array of blocks",
);

export const toolResultBlockSchema = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string({ error: "a tool_result block needs a string 'tool_use_id'" }),
  content: toolResultContent.nullish(),
  is_error: z.boolean().nullish(),
});

export const thinkingBlockSchema = z.looseObject({
  type: z.literal("thinking"),
  thinking: z.string({ error: "a thinking block needs a string 'thinking'" }),
  signature: z.string().nullish(),
});

export const redactedThinkingBlockSchema = z.looseObject({
  type: z.literal("redacted_thinking"),
  data: z.string({ error: "a redacted_thinking block needs a string 'data'" }),
});

const contentBlock = tagged({
  text: textBlockSchema,
  image: imageBlockSchema,
  document: documentBlockSchema,
  tool_use: toolUseBlockSchema,
  tool_result: toolResultBlockSchema,
  thinking: thinkingBlockSchema,
  redacted_thinking: redactedThinkingBlockSchema,
}, "content block");

const messageSchema = z.looseObject({
  // `system` turns inside messages come from Claude Code's per-turn-control betas.
  role: z.enum(["user", "assistant", "system"], {
    error: "role must be one of user, assistant, system",
  }),
  content: stringOrArray(contentBlock, "content must be a string or an array of content blocks"),
});

const toolSchema = z.looseObject({
  // Custom tools omit `type` (or say "custom"); server tools (web_search_…, bash_…) name theirs.
  type: z.string().nullish(),
  name: z.string().nullish(),
  description: z.string().nullish(),
  input_schema: z.record(z.string(), z.unknown(), {
    error: "input_schema must be a JSON Schema object",
  }).nullish(),
}).superRefine((tool, ctx) => {
  if (isCustomTool(tool) && (typeof tool.name !== "string" || tool.name === "")) {
    ctx.addIssue({ code: "custom", path: ["name"], message: "a custom tool needs a name" });
  }
});

/** Whether a tool entry is a client-executed custom tool (the only kind other APIs can take). */
export function isCustomTool(tool: { type?: string | null }): boolean {
  return tool.type == null || tool.type === "custom";
}

const toolChoiceSchema = z.looseObject({
  type: z.enum(["auto", "any", "tool", "none"], {
    error: "tool_choice.type must be one of auto, any, tool, none",
  }),
  name: z.string().nullish(),
  disable_parallel_tool_use: z.boolean().nullish(),
}).refine((c) => c.type !== "tool" || (typeof c.name === "string" && c.name !== ""), {
  path: ["name"],
  error: "tool_choice of type 'tool' needs the tool's name",
});

const thinkingSchema = tagged({
  enabled: z.looseObject({
    type: z.literal("enabled"),
    budget_tokens: z.number({ error: "budget_tokens must be a number" }).int().positive(),
  }),
  disabled: z.looseObject({ type: z.literal("disabled") }),
  adaptive: z.looseObject({ type: z.literal("adaptive") }),
}, "thinking config");

const outputFormatSchema = z.looseObject({
  type: z.string(),
  schema: z.record(z.string(), z.unknown()).nullish(),
});

const systemSchema = stringOrArray(
  tagged({ text: textBlockSchema }, "system block"),
  "system must be a string or an array of text blocks",
);

export const messagesRequestSchema = z.looseObject({
  model: z.string({ error: "model is required and must be a string" }).min(1, {
    error: "model must not be empty",
  }),
  messages: z.array(messageSchema, { error: "messages is required and must be an array" })
    .min(1, { error: "messages must contain at least one message" }),
  system: systemSchema.nullish(),
  // Required by Anthropic itself; optional here so count_tokens bodies and lenient clients pass.
  max_tokens: z.number({ error: "max_tokens must be a number" }).int().positive().nullish(),
  temperature: z.number().min(0).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  stop_sequences: z.array(z.string(), { error: "stop_sequences must be an array of strings" })
    .nullish(),
  stream: z.boolean().nullish(),
  tools: z.array(toolSchema, { error: "tools must be an array" }).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  thinking: thinkingSchema.nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
  output_config: z.looseObject({
    effort: z.string().nullish(),
    format: outputFormatSchema.nullish(),
  }).nullish(),
  // The structured-outputs beta's spelling before it moved under output_config.
  output_format: outputFormatSchema.nullish(),
}, { error: "the request body must be a JSON object" });

export type MessagesRequest = z.output<typeof messagesRequestSchema>;
export type RequestMessage = MessagesRequest["messages"][number];
export type RequestContentBlock = Exclude<RequestMessage["content"], string>[number];

const usageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
});

export type WireUsage = z.output<typeof usageSchema>;

/** A non-streaming Message answer from an Anthropic upstream. */
export const messageResponseSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  content: z.array(tagged({
    text: textBlockSchema,
    tool_use: toolUseBlockSchema,
    thinking: thinkingBlockSchema,
    redacted_thinking: redactedThinkingBlockSchema,
  }, "content block")),
  stop_reason: z.string().nullish(),
  stop_sequence: z.string().nullish(),
  usage: usageSchema.nullish(),
});

export type MessageResponse = z.output<typeof messageResponseSchema>;

/** The streamed events the converter reads; other event types are ignored. */
export const streamEventSchema = tagged({
  message_start: z.looseObject({
    type: z.literal("message_start"),
    message: z.looseObject({
      id: z.string(),
      model: z.string(),
      usage: usageSchema.nullish(),
    }),
  }),
  content_block_start: z.looseObject({
    type: z.literal("content_block_start"),
    index: z.number().int().min(0),
    content_block: z.looseObject({
      type: z.string(),
      text: z.string().nullish(),
      thinking: z.string().nullish(),
      signature: z.string().nullish(),
      data: z.string().nullish(),
      id: z.string().nullish(),
      name: z.string().nullish(),
      input: z.unknown().optional(),
    }),
  }),
  content_block_delta: z.looseObject({
    type: z.literal("content_block_delta"),
    index: z.number().int().min(0),
    delta: z.looseObject({
      type: z.string(),
      text: z.string().nullish(),
      partial_json: z.string().nullish(),
      thinking: z.string().nullish(),
      signature: z.string().nullish(),
    }),
  }),
  content_block_stop: z.looseObject({
    type: z.literal("content_block_stop"),
    index: z.number().int().min(0),
  }),
  message_delta: z.looseObject({
    type: z.literal("message_delta"),
    delta: z.looseObject({ stop_reason: z.string().nullish() }).nullish(),
    usage: usageSchema.nullish(),
  }),
  message_stop: z.looseObject({ type: z.literal("message_stop") }),
  ping: z.looseObject({ type: z.literal("ping") }),
  error: z.looseObject({
    type: z.literal("error"),
    error: z.looseObject({ type: z.string().nullish(), message: z.string().nullish() }).nullish(),
  }),
}, "stream event");

export type StreamEvent = z.output<typeof streamEventSchema>;

/** An Anthropic error body (`{type:"error", error:{type, message}}`), loosely. */
export const errorBodySchema = z.looseObject({
  type: z.literal("error"),
  error: z.looseObject({ type: z.string(), message: z.string().nullish() }),
});
