// Fake OpenAI Chat Completions upstream for the benchmark.
//
// It must be cheap (it is shared by every measured target, so its cost should
// be small next to theirs) yet speak the real wire format, so the gateway does
// the same parsing work it would against OpenAI.
//
// Run standalone: `deno run -A bench/upstream.ts [--chunk-delay-ms N]`; it
// prints one JSON line `{"url": "..."}` on stdout and exits when stdin closes
// (so it dies with the parent process even if the parent is SIGKILLed).

/** Number of content deltas in a streamed completion. */
export const STREAM_CONTENT_CHUNKS = 200;

/**
 * Requests for this model are streamed with at least PACED_DELAY_MS between
 * chunks, whatever the server's delay option: with no delay the whole stream
 * sits in the socket at once and a client cannot tell a relaying proxy from a
 * buffering one. Selected by model name so it passes through any proxy.
 */
export const PACED_MODEL = "bench-model-paced";
export const PACED_DELAY_MS = 1;

export interface BenchUpstreamOptions {
  /** Delay in ms between streamed chunks; 0 = as fast as the reader pulls. */
  chunkDelayMs?: number;
}

export interface BenchUpstream {
  url: string;
  close(): Promise<void>;
}

const WORDS = [
  "The",
  " quick",
  " brown",
  " fox",
  " jumps",
  " over",
  " the",
  " lazy",
  " dog",
  ".",
  " Benchmarks",
  " should",
  " measure",
  " what",
  " users",
  " feel",
  ",",
  " not",
  " what",
  " is",
  " easy",
  ".",
];

/** The content pieces a stream carries; the client uses it to verify streams. */
export function streamContentPieces(n: number = STREAM_CONTENT_CHUNKS): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[i % WORDS.length]);
  return out;
}

/** The message content of a non-streaming completion. */
export const NON_STREAM_CONTENT =
  "Hello! This is a benchmark reply from the fake upstream. It is short, like most chat answers.";

const encoder = new TextEncoder();
const PIECES = streamContentPieces();
let counter = 0;

interface ChatRequest {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

function completionJson(id: string, model: string, created: number): string {
  return JSON.stringify({
    id,
    object: "chat.completion",
    created,
    model,
    system_fingerprint: "fp_bench",
    choices: [{
      index: 0,
      message: { role: "assistant", content: NON_STREAM_CONTENT, refusal: null },
      logprobs: null,
      finish_reason: "stop",
    }],
    usage: {
      prompt_tokens: 27,
      completion_tokens: 21,
      total_tokens: 48,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  });
}

/** Builds every SSE frame of one stream up front, framed exactly as OpenAI does. */
function streamFrames(
  id: string,
  model: string,
  created: number,
  includeUsage: boolean,
): Uint8Array[] {
  // Shared prefix; the choice object is appended per frame.
  const head = `{"id":${
    JSON.stringify(id)
  },"object":"chat.completion.chunk","created":${created},"model":${
    JSON.stringify(model)
  },"system_fingerprint":"fp_bench","choices":[`;
  const tail = includeUsage ? `],"usage":null}` : `]}`;
  const frame = (choice: string): Uint8Array => encoder.encode(`data: ${head}${choice}${tail}\n\n`);
  const frames: Uint8Array[] = [];
  frames.push(frame(
    `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`,
  ));
  for (const piece of PIECES) {
    frames.push(
      frame(
        `{"index":0,"delta":{"content":${
          JSON.stringify(piece)
        }},"logprobs":null,"finish_reason":null}`,
      ),
    );
  }
  frames.push(frame(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`));
  if (includeUsage) {
    frames.push(encoder.encode(
      `data: ${head}],"usage":{"prompt_tokens":27,"completion_tokens":${PIECES.length},"total_tokens":${
        27 + PIECES.length
      }}}\n\n`,
    ));
  }
  frames.push(encoder.encode("data: [DONE]\n\n"));
  return frames;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function streamBody(frames: Uint8Array[], delayMs: number): ReadableStream<Uint8Array> {
  let i = 0;
  // highWaterMark 0: pull() runs only when the server asks for data, so each
  // frame is a separate enqueue/write rather than one pre-filled queue.
  return new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      if (delayMs > 0 && i > 0) await sleep(delayMs);
      controller.enqueue(frames[i++]);
      if (i === frames.length) controller.close();
    },
  }, new CountQueuingStrategy({ highWaterMark: 0 }));
}

function errorResponse(status: number, message: string, type: string): Response {
  return Response.json({ error: { message, type, param: null, code: null } }, { status });
}

async function handle(req: Request, delayMs: number): Promise<Response> {
  const { pathname } = new URL(req.url);
  if (pathname === "/v1/models" && req.method === "GET") {
    return Response.json({
      object: "list",
      data: [{ id: "bench-model", object: "model", created: 1700000000, owned_by: "bench" }],
    });
  }
  if (pathname !== "/v1/chat/completions") {
    return errorResponse(404, `Unknown path ${pathname}`, "invalid_request_error");
  }
  if (req.method !== "POST") {
    return errorResponse(405, "Method not allowed", "invalid_request_error");
  }
  let body: ChatRequest;
  try {
    body = await req.json();
  } catch {
    return errorResponse(400, "Invalid JSON body", "invalid_request_error");
  }
  const model = typeof body.model === "string" ? body.model : "bench-model";
  const id = `chatcmpl-bench${++counter}`;
  const created = Math.floor(Date.now() / 1000);
  const headers = { "x-request-id": `req_bench${counter}`, "openai-processing-ms": "1" };
  if (body.stream === true) {
    const includeUsage = body.stream_options?.include_usage === true;
    const delay = model === PACED_MODEL ? Math.max(delayMs, PACED_DELAY_MS) : delayMs;
    return new Response(streamBody(streamFrames(id, model, created, includeUsage), delay), {
      headers: {
        ...headers,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
      },
    });
  }
  return new Response(completionJson(id, model, created), {
    headers: { ...headers, "content-type": "application/json" },
  });
}

/** Starts the fake upstream on an ephemeral 127.0.0.1 port. */
export function startBenchUpstream(options: BenchUpstreamOptions = {}): Promise<BenchUpstream> {
  const delayMs = options.chunkDelayMs ?? 0;
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ hostname, port }): void => {
        resolve({
          url: `http://${hostname}:${port}`,
          close: () => server.shutdown(),
        });
      },
    }, (req) => handle(req, delayMs));
  });
}

/** Resolves when stdin reaches EOF, i.e. when the parent process is gone. */
export async function stdinClosed(): Promise<void> {
  try {
    for await (const _ of Deno.stdin.readable) {
      // Discard; we only care about EOF.
    }
  } catch {
    // A broken stdin also means the parent is gone.
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--chunk-delay-ms");
  const chunkDelayMs = i >= 0 ? Number(Deno.args[i + 1]) : 0;
  const upstream = await startBenchUpstream({ chunkDelayMs });
  console.log(JSON.stringify({ url: upstream.url }));
  await stdinClosed();
  await upstream.close();
}
