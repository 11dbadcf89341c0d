import { z } from "zod";

/**
 * Zod schemas for Gemini `generateContent` request bodies. Validation checks what the gateway
 * relies on and lets unknown fields through (`looseObject`), so newer client fields never
 * cause a 400. The REST API accepts snake_case field names as well as camelCase: bodies are
 * camelised first (see `camelizeGeminiBody`), leaving user data such as schemas and
 * function arguments untouched.
 */

/** Keys whose values are user data (schemas, arguments, results): never renamed inside. */
const OPAQUE_KEYS = new Set([
  "args",
  "response",
  "parameters",
  "parametersJsonSchema",
  "responseSchema",
  "responseJsonSchema",
  "responseJsonSchemaOrdering",
  "labels",
  "metadata",
]);

function snakeToCamel(key: string): string {
  return key.includes("_") ? key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) : key;
}

/**
 * Renames snake_case keys to camelCase everywhere except inside user data. When both spellings
 * are present the camelCase one wins, as it is the canonical REST spelling.
 */
export function camelizeGeminiBody(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelizeGeminiBody);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  // camelCase keys first so a snake_case duplicate never overwrites them.
  entries.sort(([a], [b]) => Number(a.includes("_")) - Number(b.includes("_")));
  for (const [key, v] of entries) {
    const name = snakeToCamel(key);
    if (name in out) continue;
    out[name] = OPAQUE_KEYS.has(name) ? v : camelizeGeminiBody(v);
  }
  return out;
}

const jsonObject = z.record(z.string(), z.unknown());

const blob = z.looseObject({
  mimeType: z.string({ error: "mimeType is required and must be a string" }),
  data: z.string({ error: "data is required and must be a base64 string" }),
});

const fileData = z.looseObject({
  mimeType: z.string().nullish(),
  fileUri: z.string({ error: "fileUri is required and must be a string" }),
});

const functionCall = z.looseObject({
  id: z.string().nullish(),
  name: z.string({ error: "name is required and must be a string" }).min(1, {
    error: "name must not be empty",
  }),
  args: jsonObject.nullish(),
});

const functionResponse = z.looseObject({
  id: z.string().nullish(),
  name: z.string({ error: "name is required and must be a string" }).min(1, {
    error: "name must not be empty",
  }),
  response: jsonObject.nullish(),
  // Multimodal function responses (Gemini 3) carry extra parts next to `response`.
  parts: z.array(z.looseObject({ inlineData: blob.nullish(), fileData: fileData.nullish() }))
    .nullish(),
});

/** One part; exactly which field is set decides its kind. Unknown kinds are tolerated. */
export const geminiPartSchema = z.looseObject({
  text: z.string().nullish(),
  thought: z.boolean().nullish(),
  thoughtSignature: z.string().nullish(),
  inlineData: blob.nullish(),
  fileData: fileData.nullish(),
  functionCall: functionCall.nullish(),
  functionResponse: functionResponse.nullish(),
  executableCode: z.looseObject({ language: z.string().nullish(), code: z.string().nullish() })
    .nullish(),
  codeExecutionResult: z.looseObject({
    outcome: z.string().nullish(),
    output: z.string().nullish(),
  }).nullish(),
});

export const geminiContentSchema = z.looseObject({
  role: z.enum(["user", "model", "function"], { error: "role must be 'user' or 'model'" })
    .nullish(),
  parts: z.array(geminiPartSchema, { error: "parts must be an array" }).nullish(),
});

const functionDeclaration = z.looseObject({
  name: z.string({ error: "name is required and must be a string" }).min(1, {
    error: "name must not be empty",
  }),
  description: z.string().nullish(),
  parameters: jsonObject.nullish(),
  parametersJsonSchema: jsonObject.nullish(),
});

// googleSearch, codeExecution, urlContext, retrieval... pass validation and are dropped later.
const tool = z.looseObject({
  functionDeclarations: z.array(functionDeclaration).nullish(),
});

const upper = (v: unknown): unknown => typeof v === "string" ? v.toUpperCase() : v;

const functionCallingConfig = z.looseObject({
  mode: z.preprocess(
    upper,
    z.enum(["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"], {
      error: "mode must be one of AUTO, ANY, NONE, VALIDATED",
    }),
  ).nullish(),
  allowedFunctionNames: z.array(z.string()).nullish(),
});

const thinkingConfig = z.looseObject({
  thinkingBudget: z.number().int({ error: "thinkingBudget must be an integer" }).nullish(),
  includeThoughts: z.boolean().nullish(),
  thinkingLevel: z.string().nullish(),
});

const generationConfig = z.looseObject({
  maxOutputTokens: z.number().int().positive({ error: "maxOutputTokens must be positive" })
    .nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  topP: z.number().min(0).max(1).nullish(),
  topK: z.number().min(0).nullish(),
  stopSequences: z.array(z.string()).nullish(),
  candidateCount: z.number().int().min(1).nullish(),
  seed: z.number().int().nullish(),
  responseMimeType: z.string().nullish(),
  responseSchema: jsonObject.nullish(),
  responseJsonSchema: jsonObject.nullish(),
  thinkingConfig: thinkingConfig.nullish(),
});

const requestObject = z.looseObject({
  contents: z.array(geminiContentSchema, { error: "contents is required and must be an array" })
    .min(1, { error: "contents must contain at least one content" }),
  systemInstruction: z.union([geminiContentSchema, z.string()]).nullish(),
  tools: z.array(tool, { error: "tools must be an array" }).nullish(),
  toolConfig: z.looseObject({ functionCallingConfig: functionCallingConfig.nullish() }).nullish(),
  generationConfig: generationConfig.nullish(),
  safetySettings: z.array(z.looseObject({})).nullish(),
  cachedContent: z.string().nullish(),
  /** Some clients repeat the model in the body; the URL's model wins. */
  model: z.string().nullish(),
});

/**
 * A `generateContent` / `streamGenerateContent` / `countTokens` body. A countTokens body may wrap
 * the request as `{generateContentRequest: {...}}`; it is unwrapped here.
 */
export const geminiRequestSchema = z.preprocess((body) => {
  const camel = camelizeGeminiBody(body);
  if (typeof camel === "object" && camel !== null && !("contents" in camel)) {
    const inner = (camel as Record<string, unknown>).generateContentRequest;
    if (typeof inner === "object" && inner !== null) return inner;
  }
  return camel;
}, requestObject);

export type GeminiRequest = z.infer<typeof geminiRequestSchema>;
export type GeminiContent = z.infer<typeof geminiContentSchema>;
export type GeminiPart = z.infer<typeof geminiPartSchema>;

/** The part shape the gateway writes (requests upstream, answers to clients). */
export interface GeminiWirePart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: { name: string; args: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response: Record<string, unknown>; id?: string };
}

export interface GeminiWireContent {
  role?: "user" | "model";
  parts: GeminiWirePart[];
}

/** `usageMetadata` as the API reports it (all counts optional on the wire). */
export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  toolUsePromptTokenCount?: number;
  totalTokenCount?: number;
}

/** A `GenerateContentResponse` (one chunk when streaming). */
export interface GeminiResponseBody {
  candidates?: Array<{
    content?: { role?: string; parts?: GeminiWirePart[] };
    finishReason?: string;
    index?: number;
  }>;
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

const responsePart = geminiPartSchema;

/** Lenient schema for upstream answers: only shapes the converter reads are checked. */
export const geminiResponseSchema = z.looseObject({
  candidates: z.array(z.looseObject({
    content: z.looseObject({
      role: z.string().nullish(),
      parts: z.array(responsePart).nullish(),
    }).nullish(),
    finishReason: z.string().nullish(),
    index: z.number().nullish(),
  })).nullish(),
  promptFeedback: z.looseObject({ blockReason: z.string().nullish() }).nullish(),
  usageMetadata: z.looseObject({
    promptTokenCount: z.number().nullish(),
    candidatesTokenCount: z.number().nullish(),
    thoughtsTokenCount: z.number().nullish(),
    cachedContentTokenCount: z.number().nullish(),
    toolUsePromptTokenCount: z.number().nullish(),
    totalTokenCount: z.number().nullish(),
  }).nullish(),
  modelVersion: z.string().nullish(),
  responseId: z.string().nullish(),
  error: z.looseObject({
    code: z.number().nullish(),
    message: z.string().nullish(),
    status: z.string().nullish(),
  }).nullish(),
});

export type GeminiResponseParsed = z.infer<typeof geminiResponseSchema>;
