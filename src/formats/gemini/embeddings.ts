import { RequestError } from "../../errors.ts";
import type { IrEmbedRequest, IrEmbedResult } from "../../ir/embeddings.ts";

type Json = Record<string, unknown>;

/** Gemini's limit on requests in one `batchEmbedContents`. */
export const GEMINI_MAX_BATCH = 100;

/**
 * A Gemini `:embedContent` body (`{content: {parts: [{text}]}, taskType?, title?,
 * outputDimensionality?}`) or `:batchEmbedContents` body (`{requests: [...]}`) into the IR. A
 * batch's requests must agree on task type and size: the IR carries one of each.
 */
export function geminiEmbedToIr(
  json: unknown,
  model: string,
  batch: boolean,
): IrEmbedRequest {
  const body = objectOf(json, "The request body");
  if (!batch) return { model, ...oneRequest(body, "") };
  const requests = body.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    throw new RequestError("'requests' must be a non-empty array.", "invalid_argument");
  }
  const each = requests.map((r, i) => oneRequest(objectOf(r, `requests[${i}]`), `requests[${i}].`));
  const first = each[0];
  if (each.some((r) => r.dimensions !== first.dimensions || r.taskType !== first.taskType)) {
    throw new RequestError(
      "Every request of a batch must ask for the same outputDimensionality and taskType.",
      "invalid_argument",
    );
  }
  const ir: IrEmbedRequest = { model, input: each.map((r) => r.input[0]) };
  if (first.dimensions !== undefined) ir.dimensions = first.dimensions;
  if (first.taskType !== undefined) ir.taskType = first.taskType;
  return ir;
}

function oneRequest(r: Json, at: string): Omit<IrEmbedRequest, "model"> & { input: string[] } {
  const content = objectOf(r.content, `${at}content`);
  const parts = content.parts;
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new RequestError(`'${at}content.parts' must be a non-empty array.`, "invalid_argument");
  }
  const texts = parts.map((p) => typeof p?.text === "string" ? p.text as string : undefined);
  if (texts.some((t) => t === undefined)) {
    throw new RequestError(`'${at}content.parts' may hold only text parts.`, "invalid_argument");
  }
  const text = texts.join("\n");
  if (text === "") throw new RequestError(`'${at}content' has no text.`, "invalid_argument");
  const out: Omit<IrEmbedRequest, "model"> & { input: string[] } = { input: [text] };
  const d = r.outputDimensionality;
  if (d !== undefined && d !== null) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 1) {
      throw new RequestError(
        `'${at}outputDimensionality' must be a positive integer.`,
        "invalid_argument",
      );
    }
    out.dimensions = d;
  }
  if (typeof r.taskType === "string") out.taskType = r.taskType;
  if (typeof r.title === "string") out.title = r.title;
  return out;
}

function objectOf(v: unknown, what: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RequestError(`${what} must be a JSON object.`, "invalid_argument");
  }
  return v as Json;
}

/** The IR result as Gemini's answer: `{embedding: {values}}`, or `{embeddings: [...]}` for a batch. */
export function irToGeminiEmbeddings(result: IrEmbedResult, batch: boolean): Json {
  if (!batch) return { embedding: { values: result.vectors[0] ?? [] } };
  return { embeddings: result.vectors.map((values) => ({ values })) };
}

/** One text as an EmbedContentRequest for a Gemini upstream. */
export function geminiEmbedRequest(req: IrEmbedRequest, text: string, model?: string): Json {
  const out: Json = {};
  if (model !== undefined) out.model = model;
  out.content = { parts: [{ text }] };
  if (req.taskType !== undefined) out.taskType = req.taskType;
  if (req.title !== undefined) out.title = req.title;
  if (req.dimensions !== undefined) out.outputDimensionality = req.dimensions;
  return out;
}
