/**
 * Pieces of Google's Gemini wire format shared by the Gemini, Vertex and Code Assist fakes:
 * the error body, reading the last user text and tool result, and merging streamed chunks.
 */

export type Json = Record<string, unknown>;

/** A Google API error answer: `{ error: { code, message, status, details? } }`. */
export function googleError(
  code: number,
  status: string,
  message: string,
  details?: unknown[],
): Response {
  const error: Json = { code, message, status };
  if (details) error.details = details;
  return new Response(JSON.stringify({ error }, null, 2), {
    status: code,
    headers: { "content-type": "application/json; charset=UTF-8" },
  });
}

/** The text of the last non-model turn that has any. */
export function lastUserText(body: Json): string {
  const contents = Array.isArray(body.contents) ? body.contents as Json[] : [];
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i];
    if (c.role === "model") continue;
    const parts = Array.isArray(c.parts) ? c.parts as Json[] : [];
    const text = parts.map((p) => typeof p.text === "string" ? p.text : "").join("");
    if (text !== "") return text;
  }
  return "";
}

/**
 * What a tool returned, when the last turn carries a functionResponse (a `result` string, or
 * the whole response as JSON); undefined otherwise.
 */
export function lastToolResult(body: Json): string | undefined {
  const contents = Array.isArray(body.contents) ? body.contents as Json[] : [];
  const lastParts = (contents.at(-1)?.parts ?? []) as Json[];
  const fr = lastParts.find((p) => p.functionResponse)?.functionResponse as Json | undefined;
  if (!fr) return undefined;
  const response = fr.response as Json | undefined;
  return typeof response?.result === "string" ? response.result : JSON.stringify(response);
}

/** Merges streamed chunks into one non-streaming answer (texts joined, last finish/usage). */
export function mergeChunks(chunks: Json[]): Json {
  const parts: Json[] = [];
  let last: Json = {};
  for (const c of chunks) {
    const cand = (c.candidates as Json[])[0];
    for (const p of (cand.content as Json).parts as Json[]) {
      const prev = parts.at(-1);
      if (
        prev && typeof prev.text === "string" && typeof p.text === "string" &&
        !prev.thought && !p.thought && !p.thoughtSignature
      ) prev.text += p.text;
      else parts.push({ ...p });
    }
    last = c;
  }
  const out = structuredClone(last);
  ((out.candidates as Json[])[0].content as Json).parts = parts;
  return out;
}
