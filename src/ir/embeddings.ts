/**
 * The embeddings IR: what every client format's embedding request becomes, and what every
 * upstream's answer becomes, so each format converts once (OpenAI `/v1/embeddings`, Gemini
 * `:embedContent` / `:batchEmbedContents`).
 */
export interface IrEmbedRequest {
  /** The model the client asked for (an alias resolves per route). */
  model: string;
  /** Texts, or token arrays (only OpenAI-compatible upstreams take those). */
  input: string[] | number[][];
  /** The vector size asked for (OpenAI `dimensions`, Gemini `outputDimensionality`). */
  dimensions?: number;
  /** Gemini's `taskType` and `title`, for Gemini upstreams (others have no equivalent). */
  taskType?: string;
  title?: string;
  /**
   * The OpenAI body as the client sent it: OpenAI-compatible upstreams get it as is (only the
   * model renamed), so fields the gateway does not know survive.
   */
  openai?: Record<string, unknown>;
}

/** One upstream's answer: a float vector per input, in input order, and the input tokens. */
export interface IrEmbedResult {
  vectors: number[][];
  inputTokens: number;
  /** True when the upstream reports no usage (Gemini) and the count is the local estimate. */
  estimated: boolean;
}

/** OpenAI's `encoding_format: "base64"`: the float32 little-endian bytes of the vector. */
export function vectorToBase64(vector: readonly number[]): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((v, i) => view.setFloat32(i * 4, v, true));
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** The inverse of `vectorToBase64` (an OpenAI-compatible upstream answering in base64). */
export function base64ToVector(text: string): number[] {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const out: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) out.push(view.getFloat32(i, true));
  return out;
}
