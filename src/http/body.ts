import { RequestError } from "../errors.ts";

/** A request body read in full, as raw bytes and as parsed JSON. */
export interface JsonBody {
  raw: Uint8Array<ArrayBuffer>;
  json: unknown;
}

/**
 * Reads the request body up to `maxBytes` (413 beyond, checked against `content-length`
 * first and again while reading, since the header can lie or be absent) and parses it as JSON.
 * The content type is not enforced: `curl -d` sends form encoding by default.
 */
export async function readJsonBody(req: Request, maxBytes: number): Promise<JsonBody> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!req.body) throw new RequestError("Request body is empty; expected a JSON object.");
  // With a declared length within the limit, one native read is much cheaper than a JS
  // reader loop (HTTP framing keeps the body to that length; the size is checked again).
  const raw = Number.isFinite(declared)
    ? await readWhole(req)
    : await readChunks(req.body, maxBytes);
  if (raw.byteLength > maxBytes) throw tooLarge(maxBytes);
  return { raw, json: parseJsonObject(raw) };
}

async function readWhole(req: Request): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(await req.arrayBuffer());
  } catch {
    throw new RequestError("Request body could not be read.");
  }
}

async function readChunks(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    bytes = await readBounded(body, maxBytes);
  } catch {
    throw new RequestError("Request body could not be read.");
  }
  if (!bytes) throw tooLarge(maxBytes);
  return bytes;
}

/**
 * Reads a byte stream whole, but gives up (cancelling it) once it exceeds `maxBytes`:
 * undefined then. Read errors are thrown as they come.
 */
export async function readBounded(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value as Uint8Array<ArrayBuffer>);
  }
  return chunks.length === 1 ? chunks[0] : concat(chunks, size);
}

// Non-streaming decodes keep no state, so one strict decoder serves every request.
const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseJsonObject(raw: Uint8Array<ArrayBuffer>): unknown {
  if (raw.byteLength === 0) {
    throw new RequestError("Request body is empty; expected a JSON object.");
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(raw));
  } catch {
    throw new RequestError("Request body is not valid JSON.", "invalid_json");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new RequestError("Request body must be a JSON object.", "invalid_json");
  }
  return json;
}

function tooLarge(maxBytes: number): RequestError {
  return new RequestError(
    `Request body is larger than the limit of ${maxBytes} bytes.`,
    "request_too_large",
    413,
  );
}

function concat(chunks: Uint8Array<ArrayBuffer>[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}
