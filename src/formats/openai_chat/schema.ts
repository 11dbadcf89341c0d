import { z } from "zod";

/**
 * Zod schemas for OpenAI Chat Completions request bodies. Validation checks what the gateway
 * relies on and lets unknown fields through, so newer client fields never cause a 400.
 */

const textPart = z.looseObject({ type: z.literal("text"), text: z.string() });
const imagePart = z.looseObject({
  type: z.literal("image_url"),
  image_url: z.looseObject({ url: z.string().min(1), detail: z.string().optional() }),
});
// Other part types (input_audio, file, refusal...) are accepted and ignored when converting.
const otherPart = z.looseObject({ type: z.string() });
const contentPart = z.union([textPart, imagePart, otherPart]);
const content = z.union([z.string(), z.array(contentPart)]).nullable().optional();

const toolCall = z.looseObject({
  id: z.string(),
  type: z.string().optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string().optional().default("") }),
});

export const chatMessageSchema = z.discriminatedUnion("role", [
  z.looseObject({ role: z.literal("system"), content, name: z.string().optional() }),
  z.looseObject({ role: z.literal("developer"), content, name: z.string().optional() }),
  z.looseObject({ role: z.literal("user"), content, name: z.string().optional() }),
  z.looseObject({
    role: z.literal("assistant"),
    content,
    tool_calls: z.array(toolCall).optional(),
    reasoning_content: z.string().nullable().optional(),
  }),
  z.looseObject({ role: z.literal("tool"), content, tool_call_id: z.string() }),
  z.looseObject({ role: z.literal("function"), content, name: z.string() }),
], {
  error: "role must be one of system, developer, user, assistant, tool, function",
});

const functionTool = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

export const chatRequestSchema = z.looseObject({
  model: z.string({ error: "model is required and must be a string" }).min(1, {
    error: "model must not be empty",
  }),
  messages: z.array(chatMessageSchema, { error: "messages is required and must be an array" })
    .min(1, { error: "messages must contain at least one message" }),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: z.union([z.string(), z.array(z.string())]).nullable().optional(),
  tools: z.array(z.union([functionTool, z.looseObject({ type: z.string() })])).nullable()
    .optional(),
  tool_choice: z.union([
    z.enum(["auto", "none", "required"]),
    z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string() }) }),
  ]).nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  response_format: z.looseObject({
    type: z.enum(["text", "json_object", "json_schema"]),
    json_schema: z.looseObject({
      name: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }).optional(),
  }).nullable().optional(),
  reasoning_effort: z.string().nullable().optional(),
  user: z.string().optional(),
  prompt_cache_key: z.string().nullable().optional(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;
