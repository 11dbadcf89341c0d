import { RequestError } from "../errors.ts";
import { type IrEmbedRequest, type IrEmbedResult, vectorToBase64 } from "../ir/embeddings.ts";

/** OpenAI's limit on inputs in one embeddings request. */
const MAX_INPUTS = 2048;

/** The caller's `encoding_format`. */
export type EncodingFormat = "float" | "base64";

/**
 * An OpenAI `POST /v1/embeddings` body into the IR: `input` is a string, an array of strings,
 * a token array or an array of token arrays; `dimensions` a positive integer;
 * `encoding_format` `float` (default) or `base64`. Anything else is a 400 naming the field.
 */
export function openAIEmbedToIr(json: unknown): { ir: IrEmbedRequest; encoding: EncodingFormat } {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RequestError("The request body must be a JSON object.");
  }
  const body = json as Record<string, unknown>;
  if (typeof body.model !== "string" || body.model === "") {
    throw new RequestError("'model' is required: the embedding model to use.", "invalid_model");
  }
  const ir: IrEmbedRequest = { model: body.model, input: inputOf(body.input), openai: body };
  if (body.dimensions !== undefined && body.dimensions !== null) {
    const d = body.dimensions;
    if (typeof d !== "number" || !Number.isInteger(d) || d < 1) {
      throw new RequestError("'dimensions' must be a positive integer.", "invalid_dimensions");
    }
    ir.dimensions = d;
  }
  const encoding = body.encoding_format ?? "float";
  if (encoding !== "float" && encoding !== "base64") {
    throw new RequestError(
      "'encoding_format' must be 'float' or 'base64'.",
      "invalid_encoding_format",
    );
  }
  return { ir, encoding };
}

function inputOf(input: unknown): string[] | number[][] {
  const bad = (why: string): never => {
    throw new RequestError(`'input' ${why}`, "invalid_input");
  };
  if (typeof input === "string") {
    if (input === "") bad("must not be an empty string.");
    return [input];
  }
  if (!Array.isArray(input) || input.length === 0) {
    return bad("must be a non-empty string or a non-empty array of strings or token arrays.");
  }
  if (input.length > MAX_INPUTS) bad(`may hold at most ${MAX_INPUTS} items.`);
  if (input.every((t) => typeof t === "string")) {
    if (input.some((t) => t === "")) bad("must not hold empty strings.");
    return input as string[];
  }
  const isTokens = (a: unknown): a is number[] =>
    Array.isArray(a) && a.length > 0 && a.every((t) => Number.isInteger(t) && t >= 0);
  if (isTokens(input)) return [input];
  if (input.every(isTokens)) return input as number[][];
  return bad("must be a string, an array of strings, or token arrays of non-negative integers.");
}

/** The IR result as OpenAI's answer, vectors in the caller's encoding. */
export function irToOpenAIEmbeddings(
  result: IrEmbedResult,
  model: string,
  encoding: EncodingFormat,
): Record<string, unknown> {
  return {
    object: "list",
    data: result.vectors.map((v, index) => ({
      object: "embedding",
      index,
      embedding: encoding === "base64" ? vectorToBase64(v) : v,
    })),
    model,
    usage: { prompt_tokens: result.inputTokens, total_tokens: result.inputTokens },
  };
}
