// The gateway's own JavaScript per request, without sockets: `deno run -A bench/inproc.ts
// [chat|messages|stream] [N]`. The gateway's handler is called directly with a Request, and
// the upstream is `fetch` replaced by a function that answers at once with the bench
// upstream's bytes. What remains is everything the gateway does in JS per request — auth,
// parse, routing, the upstream call's bookkeeping, relay, stats and log — minus the network
// and the server, so a change to the request path shows here without the run-to-run noise
// of `deno task bench` (which measures the whole process against the minimal forwarder).
// Prints µs per request (median of 9 batches) and, for reference, the same loop around a
// handler that only reads the body and answers with the canned bytes. --profile: profiles the
// gateway's batches (node:inspector, in process: no network events to skew it) and prints
// its time by stage and its busiest functions; the profile goes to /tmp/prof/inproc-MODE.cpuprofile.
import { cpuUsage } from "node:process";
import { startGateway } from "../src/server.ts";
import { loadConfig } from "../src/config/load.ts";
import { createLogger } from "../src/observe/logger.ts";
import { CHAT_REQUEST, MESSAGES_REQUEST } from "./requests.ts";
import { NON_STREAM_CONTENT, streamContentPieces } from "./upstream.ts";

const positional = Deno.args.filter((a) => !a.startsWith("--"));
const mode = positional[0] ?? "chat";
const N = Number(positional[1] ?? "30000");
const PROFILE = Deno.args.includes("--profile");
const UPSTREAM = "http://127.0.0.1:9/v1";

const answer = new TextEncoder().encode(JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 0,
  model: "bench-model",
  choices: [{
    index: 0,
    message: { role: "assistant", content: NON_STREAM_CONTENT },
    finish_reason: "stop",
  }],
  usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
}));
const sse = new TextEncoder().encode(
  streamContentPieces().map((p, i) =>
    `data: ${
      JSON.stringify({
        id: "c",
        object: "chat.completion.chunk",
        created: 0,
        model: "bench-model",
        choices: [{
          index: 0,
          delta: i === 0 ? { role: "assistant", content: p } : { content: p },
        }],
      })
    }\n\n`
  ).join("") + "data: [DONE]\n\n",
);
const upstreamHeaders = {
  "x-ratelimit-remaining-requests": "9999",
  "x-ratelimit-limit-requests": "10000",
  date: new Date().toUTCString(),
};
/** A body as a stream, as a real fetch answer's is, in pieces of `piece` bytes. */
function streamOf(bytes: Uint8Array, piece = bytes.byteLength): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(at, at += piece));
    },
  });
}

// The upstream: answers every fetch at once (the body is consumed, as a real one would be). A
// stream comes in pieces of a few events, as a socket delivers them.
globalThis.fetch = async (_input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
  if (init?.body instanceof ReadableStream) await init.body.cancel();
  const stream = typeof init?.body === "string" && init.body.includes('"stream":true') ||
    init?.body instanceof Uint8Array &&
      new TextDecoder().decode(init.body).includes('"stream":true');
  return stream
    ? new Response(streamOf(sse, 512), {
      headers: { ...upstreamHeaders, "content-type": "text/event-stream" },
    })
    : new Response(streamOf(answer), {
      headers: {
        ...upstreamHeaders,
        "content-type": "application/json",
        "content-length": String(answer.byteLength),
      },
    });
};

const tmp = await Deno.makeTempDir();
await Deno.writeTextFile(
  `${tmp}/config.json`,
  JSON.stringify({
    providers: [{
      id: "bench",
      type: "openai",
      base_url: UPSTREAM,
      api_keys: ["sk-bench-1", "sk-bench-2"],
      models: ["bench-model"],
    }],
  }),
);
const { config } = await loadConfig({ path: `${tmp}/config.json`, explicit: true, env: {} });
await Deno.mkdir(`${tmp}/data`);
const kv = await Deno.openKv(`${tmp}/data/kv.sqlite3`);
const gw = await startGateway({
  config,
  logger: createLogger({ level: "error", json: false }),
  hostname: "127.0.0.1",
  port: 0,
  kv,
});

// chat, messages (Anthropic in, converted), stream (chat streaming), messages-stream.
const anthropic = mode.startsWith("messages");
const streaming = mode.endsWith("stream");
const base = anthropic ? MESSAGES_REQUEST : CHAT_REQUEST;
const body = JSON.stringify(streaming ? { ...base, stream: true } : base);
const path = anthropic ? "/v1/messages" : "/v1/chat/completions";
const headers: Record<string, string> = {
  "content-type": "application/json",
  accept: streaming ? "text/event-stream" : "application/json",
  authorization: "Bearer sk-client",
  "content-length": String(new TextEncoder().encode(body).byteLength),
  ...(anthropic ? { "anthropic-version": "2023-06-01" } : {}),
};
const info = {
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 },
  completed: Promise.resolve(),
} as Deno.ServeHandlerInfo;

async function one(handler: (req: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>) {
  const req = new Request(`http://127.0.0.1:8000${path}`, { method: "POST", headers, body });
  const res = await handler(req, info);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

/**
 * CPU µs per request over `n` sequential requests: the process' CPU time, not the wall
 * clock, which a shared VM's other tenants stretch by tens of % from batch to batch.
 */
async function batch(
  handler: (req: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>,
  n: number,
): Promise<number> {
  const t0 = cpuUsage();
  for (let i = 0; i < n; i++) await one(handler);
  const t1 = cpuUsage();
  return (t1.user + t1.system - t0.user - t0.system) / n;
}

const floor = async (req: Request): Promise<Response> => {
  JSON.parse(await req.text());
  const res = await fetch(UPSTREAM, { method: "POST", body: "{}" });
  return new Response(await res.arrayBuffer(), { headers: res.headers });
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await batch(gw.handler, N); // warm-up (JIT)
await batch(floor, N);
const gateway: number[] = [];
const reference: number[] = [];
const session = PROFILE ? await startProfiler() : undefined;
for (let i = 0; i < 9; i++) {
  gateway.push(await batch(gw.handler, Math.ceil(N / 9)));
  session?.pause();
  reference.push(await batch(floor, Math.ceil(N / 9)));
  session?.resume();
}
if (session) await session.report();
console.log(
  `${mode}: gateway ${median(gateway).toFixed(1)} µs/req, read-parse-relay reference ` +
    `${median(reference).toFixed(1)} µs/req, gateway's own ${
      (median(gateway) - median(reference)).toFixed(1)
    } µs/req (batches: ${gateway.map((x) => x.toFixed(1)).join(", ")})`,
);
await gw.shutdown();
kv.close();
await Deno.remove(tmp, { recursive: true });

/** node:inspector's profiler on this very process, paused while the reference runs. */
async function startProfiler(): Promise<{
  pause(): void;
  resume(): void;
  report(): Promise<void>;
}> {
  const { Session } = await import("node:inspector");
  const { attributeSamples, STAGES } = await import("./stages.ts");
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) =>
      session.post(
        method,
        params ?? {},
        (err: Error | null, res?: unknown) => err ? reject(err) : resolve(res),
      )
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 50 });
  await post("Profiler.start");
  // Samples taken while the reference runs are dropped by time: the profile has no pause.
  const pauses: [number, number][] = [];
  let pausedAt = 0;
  return {
    pause: () => pausedAt = performance.now(),
    resume: () => pauses.push([pausedAt, performance.now()]),
    async report() {
      const { profile } = await post("Profiler.stop") as {
        profile: CpuProfile & { startTime: number; timeDeltas: number[] };
      };
      // Sample times are µs from the profile's start; pauses are ms from this process' start.
      const start = profile.startTime;
      const origin = performance.timeOrigin * 1000;
      let t = start;
      const kept: number[] = [];
      profile.samples.forEach((id, i) => {
        t += profile.timeDeltas[i];
        const ms = (t - origin) / 1000;
        if (!pauses.some(([a, b]) => ms >= a && ms < b)) kept.push(id);
      });
      profile.samples = kept;
      await Deno.mkdir("/tmp/prof", { recursive: true });
      await Deno.writeTextFile(`/tmp/prof/inproc-${mode}.cpuprofile`, JSON.stringify(profile));
      const { samples, total } = attributeSamples(profile);
      console.log(
        "stages: " +
          STAGES.filter((st) => samples[st] > 0).map((st) =>
            `${st} ${(100 * samples[st] / total).toFixed(1)}%`
          ).join(", "),
      );
    },
  };
}

type CpuProfile = import("./stages.ts").CpuProfile;
