/**
 * Answers whose body is bytes in memory, built so that later layers (the observer's usage
 * scan) can read the bytes without consuming the body: reading it would copy it and force a
 * new Response (about 3 µs each, measured), and the server sends bytes in one write.
 */
export class BytesResponse extends Response {
  readonly whole: Uint8Array<ArrayBuffer>;

  /**
   * `headers` is a plain record (cheaper than a Headers object). The request id is not added
   * here: a Response made with more headers than its content type leaves Deno's fast path,
   * which cost far more (176 → 238 µs CPU per request, measured) than `withRequestId` setting
   * it afterwards.
   */
  constructor(bytes: Uint8Array<ArrayBuffer>, init: BytesInit) {
    super(bytes, init);
    this.whole = bytes;
  }
}

/** Status and headers of a BytesResponse (the record is taken over, not copied). */
export interface BytesInit {
  status?: number;
  statusText?: string;
  headers: Record<string, string>;
}

/**
 * An answer read whole and held in memory that is never served as it is (the answer relayed
 * to the client is made from its bytes): it is built without a body, because a Response made
 * with bytes prepares them for serving at once — an op per answer, wasted here (measured at
 * a third of the construction). Its headers are the object it was given, not a copy. Reading
 * methods work on the held bytes.
 */
export class HeldAnswer extends Response {
  readonly whole: Uint8Array<ArrayBuffer>;
  readonly #headers: Headers;
  #used = false;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;

  constructor(bytes: Uint8Array<ArrayBuffer>, init: ResponseInit, headers: Headers) {
    super(null, init);
    this.whole = bytes;
    this.#headers = headers;
  }

  override get headers(): Headers {
    return this.#headers;
  }

  override get bodyUsed(): boolean {
    return this.#used;
  }

  /** A stream over the bytes; asking for it hands the body over (it counts as used). */
  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#used = true;
    return this.#stream ??= new Response(this.whole).body as ReadableStream<
      Uint8Array<ArrayBuffer>
    >;
  }

  // As on any Response, a second read rejects (it does not throw).
  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#read((b) => b.slice());
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read((b) => b.slice().buffer);
  }

  override text(): Promise<string> {
    return this.#read((b) => utf8Decoder.decode(b));
  }

  override async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  override blob(): Promise<Blob> {
    return this.#read((b) => new Blob([b], { type: this.#headers.get("content-type") ?? "" }));
  }

  override clone(): Response {
    if (this.#used) throw new TypeError("Body already consumed.");
    return new HeldAnswer(this.whole.slice(), this, this.#headers);
  }

  #read<T>(as: (bytes: Uint8Array<ArrayBuffer>) => T): Promise<T> {
    try {
      return Promise.resolve(as(this.#take()));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #take(): Uint8Array<ArrayBuffer> {
    if (this.#used) throw new TypeError("Body already consumed.");
    this.#used = true;
    return this.whole;
  }
}

const utf8Decoder = new TextDecoder();

/** The body's bytes when the answer holds them and nobody has read it, else undefined. */
export function wholeBytesOf(res: Response): Uint8Array<ArrayBuffer> | undefined {
  if (res instanceof BytesResponse) return res.bodyUsed ? undefined : res.whole;
  if (res instanceof HeldAnswer) return res.bodyUsed ? undefined : res.whole;
  return undefined;
}

/**
 * Whether the answer has a body, asked without `res.body`: on an answer made from bytes that
 * getter builds a stream around them, which then costs the bytes' fast path.
 */
export function hasBody(res: Response): boolean {
  return wholeBytesOf(res) !== undefined || res.body !== null;
}

/** The same body under new status and headers: bytes stay bytes, a stream stays a stream. */
export function relayAnswer(res: Response, init: BytesInit): Response {
  const bytes = wholeBytesOf(res);
  return bytes !== undefined ? new BytesResponse(bytes, init) : new Response(res.body, init);
}

const utf8 = new TextEncoder();

/** A JSON answer (what `Response.json` makes) whose bytes later layers can read. */
export function jsonAnswer(value: unknown): Response {
  return new BytesResponse(utf8.encode(JSON.stringify(value)), {
    headers: { "content-type": "application/json" },
  });
}
