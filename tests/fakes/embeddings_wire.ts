/**
 * Embeddings and model-list endpoints of the OpenAI and Gemini fakes, in the real wire shapes,
 * refusing what the real APIs refuse:
 * - OpenAI `POST /v1/embeddings`: `input` a non-empty string, array of strings or token arrays;
 *   `dimensions` a positive integer (refused by `text-embedding-ada-002`); `encoding_format`
 *   `float` or `base64` (the float32 little-endian bytes); unknown model suffix `-429` → 429.
 * - Gemini `:embedContent` (`{content: {parts: [{text}]}, outputDimensionality?, taskType?}`) and
 *   `:batchEmbedContents` (`{requests: [...]}`, at most 100, each naming the URL's model);
 *   unknown fields are refused as Google's JSON parser refuses them.
 * Vectors are deterministic: the same text gives the same vector (8 values unless asked).
 */
import { googleError, type Json } from "./google_wire.ts";

/** A deterministic vector for a text. */
export function fakeVector(text: string, dims = 8): number[] {
  let h = 2166136261;
  for (const ch of text) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 16777619);
  const out: number[] = [];
  for (let i = 0; i < dims; i++) {
    h = Math.imul(h ^ (h >>> 13), 1540483477);
    // Values a float32 holds exactly, so base64 and float answers compare equal.
    out.push(((h >>> 8) % 2001 - 1000) / 1024);
  }
  return out;
}

function openAIError(status: number, message: string, param: string | null): Response {
  return Response.json(
    { error: { message, type: "invalid_request_error", param, code: null } },
    { status },
  );
}

/** OpenAI `POST /v1/embeddings` (auth already checked). */
export function openAIEmbeddings(body: Json): Response {
  const model = body.model;
  if (typeof model !== "string" || model === "") {
    return openAIError(400, "you must provide a model parameter", null);
  }
  const input = body.input;
  const texts: string[] = [];
  if (typeof input === "string") texts.push(input);
  else if (Array.isArray(input) && input.length > 0) {
    for (const item of input) {
      if (typeof item === "string") texts.push(item);
      else if (typeof item === "number") texts.push(String(item));
      else if (Array.isArray(item) && item.every((t) => typeof t === "number")) {
        texts.push(item.join(","));
      } else return openAIError(400, "'$.input' is invalid.", "input");
    }
    if (typeof input[0] === "number") texts.splice(0, texts.length, input.join(","));
  } else {
    return openAIError(400, "'$.input' is invalid.", "input");
  }
  if (texts.some((t) => t === "")) return openAIError(400, "'$.input' is invalid.", "input");
  const dims = body.dimensions;
  if (dims !== undefined) {
    if (typeof dims !== "number" || !Number.isInteger(dims) || dims < 1) {
      return openAIError(400, "Invalid value for 'dimensions'.", "dimensions");
    }
    if (model === "text-embedding-ada-002") {
      return openAIError(400, "This model does not support specifying dimensions.", null);
    }
  }
  const format = body.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") {
    return openAIError(
      400,
      `Invalid value: '${String(format)}'. Supported values are: 'float' and 'base64'.`,
      "encoding_format",
    );
  }
  if (model.endsWith("-429")) {
    return Response.json({
      error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" },
    }, { status: 429, headers: { "retry-after": "7" } });
  }
  const tokens = texts.reduce((n, t) => n + Math.max(1, Math.ceil(t.length / 4)), 0);
  return Response.json({
    object: "list",
    data: texts.map((t, index) => {
      const v = fakeVector(t, typeof dims === "number" ? dims : 8);
      return { object: "embedding", index, embedding: format === "base64" ? toBase64(v) : v };
    }),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

function toBase64(v: number[]): string {
  const bytes = new Uint8Array(new Float32Array(v).buffer);
  return btoa(String.fromCharCode(...bytes));
}

const EMBED_FIELDS = new Set(["model", "content", "taskType", "title", "outputDimensionality"]);
const TASK_TYPES = new Set([
  "TASK_TYPE_UNSPECIFIED",
  "RETRIEVAL_QUERY",
  "RETRIEVAL_DOCUMENT",
  "SEMANTIC_SIMILARITY",
  "CLASSIFICATION",
  "CLUSTERING",
  "QUESTION_ANSWERING",
  "FACT_VERIFICATION",
  "CODE_RETRIEVAL_QUERY",
]);

/** One EmbedContentRequest checked as Google checks it: its text, or the error to answer. */
function embedText(req: unknown, where: string): string | Response {
  if (typeof req !== "object" || req === null || Array.isArray(req)) {
    return googleError(400, "INVALID_ARGUMENT", `Invalid value at '${where}'`);
  }
  for (const k of Object.keys(req)) {
    if (!EMBED_FIELDS.has(k)) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `Invalid JSON payload received. Unknown name "${k}" at '${where}': Cannot find field.`,
      );
    }
  }
  const r = req as Json;
  if (r.taskType !== undefined && !TASK_TYPES.has(String(r.taskType))) {
    return googleError(400, "INVALID_ARGUMENT", `Invalid value at '${where}.task_type'`);
  }
  const dims = r.outputDimensionality;
  if (dims !== undefined && (typeof dims !== "number" || !Number.isInteger(dims) || dims < 1)) {
    return googleError(
      400,
      "INVALID_ARGUMENT",
      `Invalid value at '${where}.output_dimensionality'`,
    );
  }
  const parts = (r.content as Json | undefined)?.parts;
  if (!Array.isArray(parts) || parts.length === 0) {
    return googleError(
      400,
      "INVALID_ARGUMENT",
      "* EmbedContentRequest.content: contents is not specified",
    );
  }
  const text = parts.map((p) => typeof (p as Json).text === "string" ? (p as Json).text : "").join(
    "",
  );
  if (text === "") {
    return googleError(400, "INVALID_ARGUMENT", "The text content is empty.");
  }
  return text;
}

/** Gemini `:embedContent` / `:batchEmbedContents` (auth already checked). */
export function geminiEmbeddings(model: string, method: string, body: Json): Response {
  if (model.endsWith("-429")) {
    return googleError(
      429,
      "RESOURCE_EXHAUSTED",
      "Resource has been exhausted (e.g. check quota).",
      [
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" },
      ],
    );
  }
  if (method === "embedContent") {
    const text = embedText(body, "embed_content_request");
    if (text instanceof Response) return text;
    return Response.json({ embedding: { values: fakeVector(text, dimsOf(body)) } });
  }
  for (const k of Object.keys(body)) {
    if (k !== "requests") {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`,
      );
    }
  }
  const requests = body.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    return googleError(
      400,
      "INVALID_ARGUMENT",
      "* BatchEmbedContentsRequest.requests: requests is not specified",
    );
  }
  if (requests.length > 100) {
    return googleError(
      400,
      "INVALID_ARGUMENT",
      "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch",
    );
  }
  const values: number[][] = [];
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i] as Json;
    if (r?.model !== `models/${model}`) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `* BatchEmbedContentsRequest.requests[${i}].model: the model in the request must match the model in the URL`,
      );
    }
    const text = embedText(r, `requests[${i}]`);
    if (text instanceof Response) return text;
    values.push(fakeVector(text, dimsOf(r)));
  }
  return Response.json({ embeddings: values.map((v) => ({ values: v })) });
}

function dimsOf(r: Json): number {
  return typeof r.outputDimensionality === "number" ? r.outputDimensionality : 8;
}

/** Gemini `models.list`: `{models: [{name, displayName, supportedGenerationMethods, ...}]}`. */
export function geminiModelListAnswer(ids: string[]): Response {
  return Response.json({
    models: ids.map((id) => ({
      name: `models/${id}`,
      version: "001",
      displayName: id.replace(/-/g, " "),
      inputTokenLimit: 1048576,
      outputTokenLimit: 65536,
      supportedGenerationMethods: id.includes("embedding")
        ? ["embedContent", "countTextTokens"]
        : ["generateContent", "countTokens"],
    })),
  });
}
