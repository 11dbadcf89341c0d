import { RequestError } from "../errors.ts";
import { withinDeadline } from "./deadline.ts";
import { byobReaderOf, giveBackReadBuffer, takeReadBuffer } from "./read_buffers.ts";

/** A request body read in full, as raw bytes, as the text parsed and as parsed JSON. */
export interface JsonBody {
  raw: Uint8Array<ArrayBuffer>;
  /** The decoded text (to scan without decoding again; not to keep). */
  text: string;
  json: unknown;
}

/** How long a request body may stay silent before the client is cut off (408). */
export const BODY_IDLE_TIMEOUT_MS = 30_000;

/**
 * The deepest JSON nesting a request may have (400 beyond). Real requests nest a few dozen
 * levels at most (JSON schemas of tools); thousands of levels would overflow the stack of the
 * recursive validators and converters behind the parser.
 */
export const MAX_JSON_DEPTH = 128;

/** Bodies up to this size are read by one native read; larger ones into one buffer. */
const SMALL_BODY_BYTES = 256 * 1024;

export interface BodyReadOptions {
  /** Longest silence while the body arrives (default `BODY_IDLE_TIMEOUT_MS`); 408 beyond. */
  idleTimeoutMs?: number;
}

/**
 * Reads the request body up to `maxBytes` (413 beyond, checked against `content-length`
 * first and again while reading, since the header can lie or be absent) and parses it as JSON.
 * A body that stops arriving for `idleTimeoutMs` gets 408 (a slow-body attack holds nothing
 * for long); JSON nested deeper than `MAX_JSON_DEPTH` gets 400.
 * The content type is not enforced: `curl -d` sends form encoding by default.
 */
export async function readJsonBody(
  req: Request,
  maxBytes: number,
  options: BodyReadOptions = {},
): Promise<JsonBody> {
  const declared = declaredLength(req.headers);
  if (isBodiless(req, declared)) {
    throw new RequestError("Request body is empty; expected a JSON object.");
  }
  const raw = await readBodyBytes(req, maxBytes, options, declared);
  const text = decodeJsonText(raw);
  return { raw, text, json: parseJsonObject(text) };
}

/** The body as UTF-8 text, read like `readJsonBody` reads it (413, 408); "" without one. */
export async function readTextBody(
  req: Request,
  maxBytes: number,
  options: BodyReadOptions = {},
): Promise<string> {
  const declared = declaredLength(req.headers);
  if (isBodiless(req, declared)) return "";
  const raw = await readBodyBytes(req, maxBytes, options, declared);
  try {
    return utf8.decode(raw);
  } catch {
    throw new RequestError("Request body is not valid UTF-8.");
  }
}

/**
 * The body's bytes, read like `readJsonBody` reads them: 413 beyond `maxBytes`, 408 when it
 * stops arriving, 400 when it cannot be read (all as RequestError).
 */
export async function readBodyBytes(
  req: Request,
  maxBytes: number,
  options: BodyReadOptions,
  /** The request's `declaredLength`, when the caller read it already. */
  declared: number | undefined = declaredLength(req.headers),
): Promise<Uint8Array<ArrayBuffer>> {
  const idleMs = options.idleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS;
  if (declared !== undefined && declared > maxBytes) throw tooLarge(maxBytes);
  let raw: Uint8Array<ArrayBuffer> | undefined;
  try {
    // A small body with a declared length: one native read is much cheaper than a JS reader
    // loop. A large one is copied chunk by chunk into one buffer of the declared size: the
    // native read holds the chunks and their concatenation at once (3x the body at its peak).
    raw = declared !== undefined && declared <= SMALL_BODY_BYTES
      ? new Uint8Array(await withinDeadline(req.arrayBuffer(), idleMs, () => bodyTimeout(idleMs)))
      : await readStream(req.body as ReadableStream<Uint8Array>, maxBytes, idleMs, declared);
  } catch (err) {
    if (err instanceof RequestError) throw err;
    throw new RequestError("Request body could not be read.");
  }
  if (!raw || raw.byteLength > maxBytes) throw tooLarge(maxBytes);
  return raw;
}

/**
 * Reads a body stream whole (into one buffer of `declared` bytes when the length is known),
 * cancelling it and rejecting with 408 when no bytes arrive for `idleMs`. Undefined when it
 * exceeds `maxBytes` (or its declared length, which HTTP framing forbids anyway).
 */
async function readStream(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  idleMs: number,
  declared: number | undefined,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const reader = body.getReader();
  // One timer per body, re-armed lazily: chunks only record the time they came.
  let last = Date.now();
  let idled = false;
  let timer: ReturnType<typeof setTimeout>;
  const check = (): void => {
    const left = last + idleMs - Date.now();
    if (left > 0) {
      timer = setTimeout(check, left);
      return;
    }
    idled = true;
    reader.cancel().catch(() => {});
  };
  timer = setTimeout(check, idleMs);
  const limit = declared ?? maxBytes;
  const out = declared !== undefined ? new Uint8Array(declared) : undefined;
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (idled) throw bodyTimeout(idleMs);
      if (done) break;
      last = Date.now();
      if (size + value.byteLength > limit) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      if (out) out.set(value, size);
      else chunks.push(value as Uint8Array<ArrayBuffer>);
      size += value.byteLength;
    }
  } catch (err) {
    throw idled ? bodyTimeout(idleMs) : err;
  } finally {
    clearTimeout(timer);
  }
  if (out) {
    if (size !== declared) throw new RequestError("Request body ended before its declared length.");
    return out;
  }
  return chunks.length === 1 ? chunks[0] : concat(chunks, size);
}

/**
 * Reads a byte stream whole, but gives up (cancelling it) once it exceeds `maxBytes`:
 * undefined then. Read errors are thrown as they come. A byte stream (an upstream body) is
 * read into a reused buffer (`read_buffers.ts`), not a new 64 KiB one per read.
 */
export async function readBounded(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const byob = byobReaderOf(body);
  const reader = byob ?? body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  let buffer = byob ? takeReadBuffer() : undefined;
  while (true) {
    const { done, value } = byob
      ? await byob.read(new Uint8Array(buffer as ArrayBuffer))
      : await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
    if (byob && value) buffer = value.buffer as ArrayBuffer;
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push((byob ? value.slice() : value) as Uint8Array<ArrayBuffer>);
  }
  giveBackReadBuffer(buffer);
  return chunks.length === 1 ? chunks[0] : concat(chunks, size);
}

// Non-streaming decodes keep no state, so one strict decoder serves every request.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Whether the request has no body. A declared length answers without `req.body`, whose stream
 * object costs the small-body fast path (`arrayBuffer()` reads natively without one).
 */
function isBodiless(req: Request, declared: number | undefined): boolean {
  return declared !== undefined ? declared === 0 : req.body === null;
}

function decodeJsonText(raw: Uint8Array<ArrayBuffer>): string {
  if (raw.byteLength === 0) {
    throw new RequestError("Request body is empty; expected a JSON object.");
  }
  try {
    return utf8.decode(raw);
  } catch {
    throw new RequestError("Request body is not valid JSON.", "invalid_json");
  }
}

function parseJsonObject(text: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RequestError("Request body is not valid JSON.", "invalid_json");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new RequestError("Request body must be a JSON object.", "invalid_json");
  }
  if (!fewerOpenersThan(text, MAX_JSON_DEPTH + 1) && nestsDeeperThan(json, MAX_JSON_DEPTH)) {
    throw new RequestError(
      `Request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels.`,
      "json_too_deep",
    );
  }
  return json;
}

/**
 * Whether the text holds fewer than `n` `{` and `[` in all: then no value in it can nest `n`
 * levels deep, and the walk over the parsed value is skipped (a native substring search per
 * bracket, against an allocation per object and array).
 */
function fewerOpenersThan(text: string, n: number): boolean {
  let count = 0;
  for (const opener of ["{", "["]) {
    for (let at = text.indexOf(opener); at !== -1; at = text.indexOf(opener, at + 1)) {
      if (++count >= n) return false;
    }
  }
  return true;
}

/** Whether a parsed JSON value nests more than `max` levels; iterative, so never overflows. */
export function nestsDeeperThan(root: object, max: number): boolean {
  const values: object[] = [root];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop() as object;
    const depth = depths.pop() as number;
    if (depth > max) return true;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) {
      if (typeof child === "object" && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

function bodyTimeout(ms: number): RequestError {
  return new RequestError(
    `The request body stopped arriving (nothing for ${ms} ms).`,
    "request_timeout",
    408,
  );
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

/** A valid `Content-Length`, else undefined (absent, or not a plain non-negative integer). */
export function declaredLength(headers: Headers): number | undefined {
  const value = headers.get("content-length");
  if (value === null) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
