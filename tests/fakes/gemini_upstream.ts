import {
  googleError,
  type Json,
  lastToolResult,
  lastUserText,
  mergeChunks,
} from "./google_wire.ts";
import { geminiEmbeddings, geminiModelListAnswer } from "./embeddings_wire.ts";
/**
 * A fake Gemini API (Generative Language v1beta) on 127.0.0.1 (ephemeral port) speaking the real
 * wire format: `GenerateContentResponse` JSON, `streamGenerateContent?alt=sse` as CRLF-framed
 * `data:` lines, the streamed JSON array without `alt`, Google RPC error bodies, and faults.
 * Auth: `x-goog-api-key` header or `?key=`; a key must start with `AIza` (else 400
 * API_KEY_INVALID); none at all is 403 PERMISSION_DENIED, as Google answers.
 * The model name picks the behaviour:
 * - `*-tools`: two parallel function calls (`get_weather` twice), finishReason STOP
 * - `*-thinking`: a thought part, then text carrying a thoughtSignature, thoughtsTokenCount
 * - `*-429`: 429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo `retryDelay: "17s"`
 * - `*-500`: 500 INTERNAL
 * - `*-context`: 400 INVALID_ARGUMENT, the input token count exceeds the model's maximum
 * - `*-cut`: streams two text chunks and ends without a finishReason
 * - `*-cutonce` (English) and `*-cutonce-zh` (Chinese): a story whose first stream is cut
 *   mid-sentence without a finishReason; a continuation request (a model turn, then a user turn
 *   asking to continue) gets the rest, restarting the cut sentence, with finishReason STOP
 * - `*-stream-error`: one text chunk, then an error element (503 UNAVAILABLE) mid-stream
 * - `*-reset`: one text chunk, then the connection breaks
 * - anything else: "Hello from <model>: <last user text>" in three chunks when streaming
 *
 * `-tools` answered (the last turn holds function responses) says which result went to which
 * call: "Paris: <result>; London: <result>", pairing by id where the response names one.
 * Function responses must match the calls' count, as Google checks.
 *
 * `gemini-3*` models sign, as Gemini 3 does: the first function call of every answer carries a
 * fresh thoughtSignature (standard base64, with `+`, `/` and padding). A request whose current
 * turn (the model turns after the last user text) has a function call without a signature is
 * refused with Google's 400; one with a signature this fake never issued is "Corrupted thought
 * signature."; Google's documented placeholder `skip_thought_signature_validator` is accepted, as
 * Google does (at a quality cost), and counted in `placeholderSignatures`.
 */

export interface RecordedGeminiRequest {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: Record<string, unknown>;
  rawBody: string;
}

export interface FakeGemini {
  url: string;
  requests: RecordedGeminiRequest[];
  /** thoughtSignatures handed out on function calls (`gemini-3*` models). */
  issuedSignatures: Set<string>;
  /** Function calls that came back with the placeholder instead of their signature. */
  placeholderSignatures: number;
  /** What `models.list` lists. */
  listedModels: string[];
  close(): Promise<void>;
}

const PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator";

/** Gemini 3 and later validate the thoughtSignatures of function calls in the current turn. */
function signsCalls(model: string): boolean {
  return /^gemini-3/.test(model);
}

/** A fresh signature in the shape Google's have: standard base64 with `+`, `/` and padding. */
function newSignature(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(97));
  bytes[0] = 0xfb; // makes `+`/`/` certain in the encoding
  bytes[1] = 0xff;
  return bytes.toBase64();
}

/**
 * Google's check of the current turn's function calls: the first call of each model turn after
 * the last user text needs the signature it was issued with. An error message, or undefined.
 */
function signatureProblem(body: Json, state: FakeGemini): string | undefined {
  const contents = Array.isArray(body.contents) ? body.contents as Json[] : [];
  const parts = (c: Json): Json[] => Array.isArray(c.parts) ? c.parts as Json[] : [];
  let start = 0;
  contents.forEach((c, i) => {
    if (c.role !== "model" && parts(c).some((p) => typeof p.text === "string")) start = i;
  });
  for (let i = start; i < contents.length; i++) {
    if (contents[i].role !== "model") continue;
    const first = parts(contents[i]).find((p) => p.functionCall);
    if (!first) continue;
    const sig = first.thoughtSignature;
    if (typeof sig !== "string") {
      const name = String((first.functionCall as Json).name);
      return "Function call is missing a thought_signature in functionCall parts. This is " +
        "required for tools to work correctly, and missing thought_signature may lead to " +
        `degraded model performance. Additional data, function call \`default_api:${name}\` , ` +
        `position ${
          i + 1
        }. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`;
    }
    if (sig === PLACEHOLDER_SIGNATURE) state.placeholderSignatures++;
    else if (!state.issuedSignatures.has(sig)) return "Corrupted thought signature.";
  }
  return undefined;
}

/** Google's check that a function-response turn answers every call of the turn before it. */
function responseCountProblem(body: Json): string | undefined {
  const contents = Array.isArray(body.contents) ? body.contents as Json[] : [];
  for (let i = 1; i < contents.length; i++) {
    const calls = ((contents[i - 1].parts ?? []) as Json[]).filter((p) => p.functionCall);
    const responses = ((contents[i].parts ?? []) as Json[]).filter((p) => p.functionResponse);
    if (responses.length > 0 && calls.length !== responses.length) {
      return "Please ensure that the number of function response parts is equal to the number " +
        "of function call parts of the function call turn.";
    }
  }
  return undefined;
}

/** `-tools` answered: each result with the location of the call it was paired with. */
function pairedResults(body: Json): string | undefined {
  const contents = Array.isArray(body.contents) ? body.contents as Json[] : [];
  const responses = ((contents.at(-1)?.parts ?? []) as Json[]).flatMap((p) =>
    p.functionResponse ? [p.functionResponse as Json] : []
  );
  if (responses.length === 0) return undefined;
  const calls = ((contents.at(-2)?.parts ?? []) as Json[]).flatMap((p) =>
    p.functionCall ? [p.functionCall as Json] : []
  );
  return responses.map((r, at) => {
    const call = calls.find((c) => r.id !== undefined && c.id === r.id) ?? calls[at];
    const where = (call?.args as Json | undefined)?.location ?? "?";
    const response = r.response as Json | undefined;
    const result = typeof response?.result === "string"
      ? response.result
      : JSON.stringify(response);
    return `${where}: ${result}`;
  }).join("; ");
}

const encoder = new TextEncoder();

/** The `-cutonce` stories: the whole answer, where the first stream is cut, where the cut
 * sentence starts (a continuation restarts it, as models often do). */
const CUT_ONCE = [
  {
    suffix: "-cutonce-zh",
    answer: "敏捷的棕色狐狸跳过了那只懒狗。然后它跑进森林，去找它的朋友们。",
    cut: "敏捷的棕色狐狸跳过了那只懒狗。然后它跑进森".length,
    restart: "敏捷的棕色狐狸跳过了那只懒狗。".length,
  },
  {
    suffix: "-cutonce",
    answer: "The quick brown fox jumps over the lazy dog. Then it ran into the forest to find " +
      "its friends.",
    cut: "The quick brown fox jumps over the lazy dog. Then it ran in".length,
    restart: "The quick brown fox jumps over the lazy dog. ".length,
  },
];

/** A continuation request: the model's own partial turn, then a user turn asking to go on. */
function isContinuation(body: Json): boolean {
  const contents = Array.isArray(body.contents) ? body.contents as Json[] : [];
  return contents.length >= 3 && contents.at(-2)?.role === "model" &&
    /continue|继续|続け|이어서/i.test(lastUserText(body));
}

/** The streamed chunks of a `-cutonce` model, or undefined for other models. */
function cutOnceChunks(model: string, body: Json): Json[] | undefined {
  const story = CUT_ONCE.find((s) => model.endsWith(s.suffix));
  if (!story) return undefined;
  const { answer, cut, restart } = story;
  if (isContinuation(body)) {
    const rest = answer.slice(restart);
    const half = Math.floor(rest.length / 2);
    return [
      chunk(model, [{ text: rest.slice(0, half) }], { usage: usage(30, 0) }),
      chunk(model, [{ text: rest.slice(half) }], { finish: "STOP", usage: usage(30, 12) }),
    ];
  }
  const half = Math.floor(cut / 2);
  return [
    chunk(model, [{ text: answer.slice(0, half) }], { usage: usage(8, 0) }),
    chunk(model, [{ text: answer.slice(half, cut) }], { usage: usage(8, 0) }),
  ];
}

function usage(prompt: number, candidates: number, thoughts?: number): Json {
  const u: Json = {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates + (thoughts ?? 0),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: prompt }],
  };
  if (thoughts !== undefined) u.thoughtsTokenCount = thoughts;
  return u;
}

function chunk(model: string, parts: Json[], extra: { finish?: string; usage?: Json } = {}): Json {
  const candidate: Json = { content: { parts, role: "model" } };
  if (extra.finish) candidate.finishReason = extra.finish;
  candidate.index = 0;
  const out: Json = { candidates: [candidate] };
  if (extra.usage) out.usageMetadata = extra.usage;
  out.modelVersion = model;
  out.responseId = "fake-resp-0001";
  return out;
}

/** The chunks a model streams; a non-streaming answer merges them. */
function script(model: string, body: Json): Json[] {
  // `-weather`: one tool round trip, a get_weather call, then text quoting its result.
  if (model.endsWith("-weather")) {
    const said = lastToolResult(body);
    if (said !== undefined) {
      return [
        chunk(model, [{ text: `Tool said: ${said}` }], { finish: "STOP", usage: usage(9, 4) }),
      ];
    }
    return [chunk(model, [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }], {
      finish: "STOP",
      usage: usage(9, 5),
    })];
  }
  if (model.endsWith("-tools")) {
    const paired = pairedResults(body);
    if (paired !== undefined) {
      return [chunk(model, [{ text: paired }], { finish: "STOP", usage: usage(60, 8) })];
    }
    return [chunk(model, [
      {
        functionCall: { name: "get_weather", args: { location: "Paris", unit: "celsius" } },
        thoughtSignature: "c2lnLXRvb2xz",
      },
      { functionCall: { name: "get_weather", args: { location: "London", unit: "celsius" } } },
    ], { finish: "STOP", usage: usage(42, 18) })];
  }
  if (model.endsWith("-thinking")) {
    return [
      chunk(model, [{
        text: "**Weighing the question**\n\nThe user wants a greeting.",
        thought: true,
      }]),
      chunk(model, [{ text: "Hello", thoughtSignature: "c2lnLXRoaW5r" }]),
      chunk(model, [{ text: " there!" }], { finish: "STOP", usage: usage(12, 3, 25) }),
    ];
  }
  const text = `Hello from ${model}: ${lastUserText(body)}`;
  const a = Math.floor(text.length / 3);
  const b = Math.floor((2 * text.length) / 3);
  return [
    chunk(model, [{ text: text.slice(0, a) }], { usage: usage(8, 0) }),
    chunk(model, [{ text: text.slice(a, b) }], { usage: usage(8, 0) }),
    chunk(model, [{ text: text.slice(b) }], { finish: "STOP", usage: usage(8, 6) }),
  ];
}

/** Puts a fresh signature on the answer's first function call, as Gemini 3 does. */
function sign(chunks: Json[], state: FakeGemini): void {
  for (const c of chunks) {
    const parts = (((c.candidates as Json[])[0].content as Json).parts ?? []) as Json[];
    const call = parts.find((p) => p.functionCall);
    if (!call) continue;
    call.thoughtSignature = newSignature();
    state.issuedSignatures.add(call.thoughtSignature as string);
    return;
  }
}

export function startFakeGemini(): Promise<FakeGemini> {
  const state: FakeGemini = {
    url: "",
    requests: [],
    issuedSignatures: new Set(),
    placeholderSignatures: 0,
    listedModels: ["gemini-2.5-flash", "gemini-embedding-001"],
    close: () => Promise.resolve(),
  };
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.close = async () => {
          await server.shutdown();
        };
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      const rawBody = req.method === "POST" ? await req.text() : "";
      let body: Json = {};
      try {
        body = rawBody ? JSON.parse(rawBody) : {};
      } catch {
        return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
      }
      state.requests.push({
        method: req.method,
        path: url.pathname,
        search: url.searchParams,
        headers: req.headers,
        body,
        rawBody,
      });

      const key = req.headers.get("x-goog-api-key") ?? url.searchParams.get("key");
      if (!key) {
        return googleError(
          403,
          "PERMISSION_DENIED",
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
      }
      if (!key.startsWith("AIza")) {
        return googleError(
          400,
          "INVALID_ARGUMENT",
          "API key not valid. Please pass a valid API key.",
          [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "API_KEY_INVALID",
              domain: "googleapis.com",
              metadata: { service: "generativelanguage.googleapis.com" },
            },
          ],
        );
      }

      // A key with `-limited` in it is rate limited for a second (rotation tests).
      if (key.includes("-limited")) {
        return googleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", [
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" },
        ]);
      }
      if (url.pathname === "/v1beta/models" && req.method === "GET") {
        return geminiModelListAnswer(state.listedModels);
      }
      const m =
        /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents)$/
          .exec(url.pathname);
      if (!m || req.method !== "POST") {
        return googleError(404, "NOT_FOUND", `Method not found: ${url.pathname}`);
      }
      const model = decodeURIComponent(m[1]);
      const method = m[2];
      if (method === "embedContent" || method === "batchEmbedContents") {
        return geminiEmbeddings(model, method, body);
      }

      if (method === "countTokens") {
        // Google accepts `{contents}` or a whole `{generateContentRequest}`.
        const counted = (body.generateContentRequest ?? body) as Json;
        return Response.json({ totalTokens: lastUserText(counted).length });
      }
      if (model.endsWith("-429")) {
        return googleError(
          429,
          "RESOURCE_EXHAUSTED",
          "You exceeded your current quota, please check your plan and billing details.",
          [
            {
              "@type": "type.googleapis.com/google.rpc.QuotaFailure",
              violations: [{
                quotaMetric:
                  "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
              }],
            },
            {
              "@type": "type.googleapis.com/google.rpc.Help",
              links: [{
                description: "Learn more about Gemini API quotas",
                url: "https://ai.google.dev/gemini-api/docs/rate-limits",
              }],
            },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "17s" },
          ],
        );
      }
      if (model.endsWith("-context")) {
        return googleError(
          400,
          "INVALID_ARGUMENT",
          "The input token count (1210417) exceeds the maximum number of tokens allowed (1048576).",
        );
      }
      if (model.endsWith("-500")) {
        return googleError(
          500,
          "INTERNAL",
          "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        );
      }

      const refused = (signsCalls(model) ? signatureProblem(body, state) : undefined) ??
        responseCountProblem(body);
      if (refused) return googleError(400, "INVALID_ARGUMENT", refused);
      const chunks = script(model, body);
      if (signsCalls(model)) sign(chunks, state);
      if (method === "generateContent") {
        return new Response(JSON.stringify(mergeChunks(chunks), null, 2), {
          headers: { "content-type": "application/json; charset=UTF-8" },
        });
      }

      const sse = url.searchParams.get("alt") === "sse";
      const frames: string[] = [];
      let breakAfter = false;
      const cutOnce = cutOnceChunks(model, body);
      if (cutOnce) {
        frames.push(...cutOnce.map((c) => JSON.stringify(c)));
      } else if (model.endsWith("-cut")) {
        frames.push(
          ...script("x", body).slice(0, 2).map((c) =>
            JSON.stringify({ ...c, modelVersion: model })
          ),
        );
      } else if (model.endsWith("-stream-error")) {
        frames.push(JSON.stringify(chunks[0]));
        frames.push(JSON.stringify({
          error: {
            code: 503,
            message: "The model is overloaded. Please try again later.",
            status: "UNAVAILABLE",
          },
        }));
      } else if (model.endsWith("-reset")) {
        frames.push(JSON.stringify(chunks[0]));
        breakAfter = true;
      } else {
        frames.push(...chunks.map((c) => JSON.stringify(c)));
      }

      let i = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 2));
          if (i < frames.length) {
            const f = frames[i];
            if (sse) controller.enqueue(encoder.encode(`data: ${f}\r\n\r\n`));
            else controller.enqueue(encoder.encode((i === 0 ? "[" : "\r\n,\r\n") + f));
            i++;
            return;
          }
          if (breakAfter) {
            controller.error(new Error("connection reset"));
            return;
          }
          if (!sse) controller.enqueue(encoder.encode(frames.length === 0 ? "[]" : "\r\n]"));
          controller.close();
        },
      });
      return new Response(stream, {
        headers: {
          "content-type": sse ? "text/event-stream" : "application/json; charset=UTF-8",
        },
      });
    });
  });
}
