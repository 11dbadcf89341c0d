import { z } from "zod";

/**
 * Zod schemas for OpenAI Responses request bodies (`POST /v1/responses`). Validation checks
 * what the gateway relies on and lets everything else through: unknown fields, unknown input
 * item types, unknown content parts and non-function tools never cause a 400; they are
 * dropped when converting to the IR. Known shapes are checked strictly enough that a broken
 * one is reported by its field path instead of being dropped silently.
 */

/** A value validated by the schema for its `type`, tagged with that type ("other" for the rest). */
export type Tagged<S extends Record<string, z.ZodType>, F extends z.ZodType> =
  | { [K in keyof S & string]: { kind: K; value: z.output<S[K]> } }[keyof S & string]
  | { kind: "other"; value: z.output<F> };

/**
 * Validates a value with the schema chosen by its `type` (or `fallback` for other types),
 * reporting issues at the value's own path, and tags the result for narrowing. Zod's unions
 * cannot fall back to "any other type" and still name the broken field of a known one.
 */
function byType<S extends Record<string, z.ZodType>, F extends z.ZodType>(
  schemas: S,
  fallback: F,
  typeOf: (value: Record<string, unknown>) => unknown,
  what: string,
) {
  return z.unknown().transform((value, ctx): Tagged<S, F> => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      ctx.issues.push({ code: "custom", message: `each ${what} must be an object`, input: value });
      return z.NEVER;
    }
    const type = typeOf(value as Record<string, unknown>);
    const known = typeof type === "string" && Object.hasOwn(schemas, type);
    const schema: z.ZodType = known ? schemas[type] : fallback;
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.issues.push({ code: "custom", message: issue.message, path: issue.path, input: value });
      }
      return z.NEVER;
    }
    return { kind: known ? type : "other", value: parsed.data } as Tagged<S, F>;
  });
}

/**
 * A value that is either a string or something else (array/object), validated by the schema
 * for its shape so that issues inside the array/object keep their own path (z.union would
 * report only "invalid input" for the whole field).
 */
function stringOr<S extends z.ZodType, O extends z.ZodType>(
  stringSchema: S,
  otherSchema: O,
  isOther: (value: unknown) => boolean,
  error: string,
) {
  return z.unknown().transform((value, ctx): z.output<S> | z.output<O> => {
    const schema: z.ZodType | undefined = typeof value === "string"
      ? stringSchema
      : isOther(value)
      ? otherSchema
      : undefined;
    if (!schema) {
      ctx.issues.push({ code: "custom", message: error, input: value });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.issues.push({ code: "custom", message: issue.message, path: issue.path, input: value });
      }
      return z.NEVER;
    }
    return parsed.data as z.output<S> | z.output<O>;
  });
}

const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

const jsonObject = z.record(z.string(), z.unknown());

// ---- content parts ---------------------------------------------------------------------------

const textPart = (type: string) => z.looseObject({ type: z.literal(type), text: z.string() });

const inputImagePart = z.looseObject({
  type: z.literal("input_image"),
  image_url: z.string().min(1).nullable().optional(),
  file_id: z.string().nullable().optional(),
  detail: z.string().nullable().optional(),
}).refine((p) => p.image_url != null || p.file_id != null, {
  message: "input_image needs an image_url or a file_id",
});

const refusalPart = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });

/** Parts of other types (input_file, input_audio...) are accepted and dropped when converting. */
const otherPart = z.looseObject({ type: z.string({ error: "each content part needs a type" }) });

export const contentPartSchema = byType(
  {
    input_text: textPart("input_text"),
    output_text: textPart("output_text"),
    text: textPart("text"),
    input_image: inputImagePart,
    refusal: refusalPart,
  },
  otherPart,
  (p) => p.type,
  "content part",
);

const messageContent = stringOr(
  z.string(),
  z.array(contentPartSchema),
  Array.isArray,
  "content must be a string or an array of content parts",
);

// ---- input items -----------------------------------------------------------------------------

const messageItem = z.looseObject({
  type: z.literal("message").optional(),
  role: z.enum(["user", "assistant", "system", "developer"], {
    error: "role must be one of user, assistant, system, developer",
  }),
  content: messageContent,
});

const functionCallItem = z.looseObject({
  type: z.literal("function_call"),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  id: z.string().optional(),
});

const functionCallOutputItem = z.looseObject({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1),
  output: stringOr(
    z.string(),
    z.array(contentPartSchema),
    Array.isArray,
    "output must be a string or an array of content parts",
  ),
});

const reasoningItem = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string().optional(),
  summary: z.array(z.looseObject({ type: z.string(), text: z.string() })).nullable().optional(),
  content: z.array(z.looseObject({ type: z.string(), text: z.string() })).nullable().optional(),
  encrypted_content: z.string().nullable().optional(),
});

/** A compaction item (`compaction_summary` is Codex's other spelling of the type). */
const compactionItem = z.looseObject({
  type: z.enum(["compaction", "compaction_summary"]),
  id: z.string().optional(),
  encrypted_content: z.string({ error: "a compaction item needs encrypted_content" }),
});

/** Other item types (item_reference, web_search_call, custom_tool_call...) are dropped. */
const otherItem = z.looseObject({
  type: z.string({ error: "each input item needs a type (or a role, for messages)" }),
});

export const inputItemSchema = byType(
  {
    message: messageItem,
    function_call: functionCallItem,
    function_call_output: functionCallOutputItem,
    reasoning: reasoningItem,
    compaction: compactionItem,
    compaction_summary: compactionItem,
  },
  otherItem,
  // EasyInputMessage items may omit `type`: a role alone marks a message.
  (item) => item.type ?? ("role" in item ? "message" : undefined),
  "input item",
);

// ---- tools -----------------------------------------------------------------------------------

const functionTool = z.looseObject({
  type: z.literal("function"),
  name: z.string().min(1),
  description: z.string().nullable().optional(),
  parameters: jsonObject.nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

/** web_search, namespace, file_search, custom, mcp...: accepted, dropped when converting. */
const otherTool = z.looseObject({ type: z.string({ error: "each tool needs a type" }) });

const toolSchema = byType({ function: functionTool }, otherTool, (t) => t.type, "tool");

const toolChoiceObject = byType(
  {
    function: z.looseObject({ type: z.literal("function"), name: z.string().min(1) }),
    allowed_tools: z.looseObject({
      type: z.literal("allowed_tools"),
      mode: z.enum(["auto", "required"]).optional(),
    }),
  },
  z.looseObject({ type: z.string() }),
  (c) => c.type,
  "tool_choice",
);

const toolChoice = stringOr(
  z.enum(["auto", "none", "required"], { error: "tool_choice must be auto, none or required" }),
  toolChoiceObject,
  isObject,
  "tool_choice must be auto, none, required or an object",
);

// ---- text format -----------------------------------------------------------------------------

const textFormat = byType(
  {
    text: z.looseObject({ type: z.literal("text") }),
    json_object: z.looseObject({ type: z.literal("json_object") }),
    json_schema: z.looseObject({
      type: z.literal("json_schema"),
      name: z.string().optional(),
      schema: jsonObject,
      description: z.string().optional(),
      strict: z.boolean().nullable().optional(),
    }),
  },
  z.looseObject({ type: z.string() }),
  (f) => f.type,
  "text.format",
);

// ---- the request -----------------------------------------------------------------------------

export const responsesRequestSchema = z.looseObject({
  model: z.string({ error: "model is required and must be a string" }).min(1, {
    error: "model must not be empty",
  }),
  input: stringOr(
    z.string(),
    z.array(inputItemSchema),
    Array.isArray,
    "input is required and must be a string or an array of input items",
  ),
  instructions: z.string().nullable().optional(),
  tools: z.array(toolSchema).nullable().optional(),
  tool_choice: toolChoice.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  max_output_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  include: z.array(z.string()).nullable().optional(),
  reasoning: z.looseObject({
    effort: z.string().nullable().optional(),
    summary: z.string().nullable().optional(),
  }).nullable().optional(),
  text: z.looseObject({ format: textFormat.optional() }).nullable().optional(),
  previous_response_id: z.string().nullable().optional(),
  conversation: z.unknown().optional(),
  metadata: z.unknown().optional(),
  prompt_cache_key: z.string().nullable().optional(),
  client_metadata: z.unknown().optional(),
  user: z.string().nullable().optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type ResponsesInputItem = z.infer<typeof inputItemSchema>;
export type ResponsesContentPart = z.infer<typeof contentPartSchema>;
