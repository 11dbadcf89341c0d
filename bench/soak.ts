// Soak test: `deno task soak` (= `deno run -A bench/soak.ts`). Bounded: a few minutes.
//
// The gateway runs as its own process (`deno run -A main.ts`, so its RSS is its own) in front
// of a fake OpenAI upstream served by this process. Each repetition:
//   1. opens N concurrent streams (default 1,000) through conversion paths (Anthropic
//      Messages, OpenAI Responses, Gemini SSE; the upstream speaks OpenAI Chat), waits until
//      every one has relayed its first piece and then sits idle (the upstream holds them),
//      reads the gateway's RSS: (RSS now - RSS before) / N is the memory per idle open stream;
//   2. releases them and reads each to its end, checking the whole text and the format's end;
//   3. sends M non-streaming requests (default 10,000) at concurrency 64, round-robin over
//      the four client formats, each answer checked to carry its own request's marker;
//   4. lets the process settle, collects garbage and reads RSS and the JS heap again.
// Memory is read after a full garbage collection, triggered through the inspector (the
// gateway runs with --inspect on a loopback port; a session is attached only for each reading,
// as an attached session makes Deno record every fetch): without it, RSS mostly shows how
// lazily V8 gives memory back, which looked like +20 % growth per repetition when the heap
// after GC was flat.
// It reports peak RSS (VmHWM), and RSS and heap after GC per repetition, and fails (exit 1) on
// any lost or corrupted response, an idle stream above 50 KB (of RSS or heap), more than 40 KB
// of JS heap per idle stream, or the heap after GC growing
// across repetitions by more than 10 % (after the first, which warms caches and pools).
//
// Flags: --reps N (3), --streams N (1000), --requests N (10000), --concurrency N (64).

import { parseArgs } from "node:util";

const args = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "3" },
    streams: { type: "string", default: "1000" },
    requests: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "64" },
  },
});
const REPS = Number(args.values.reps);
const STREAMS = Number(args.values.streams);
const REQUESTS = Number(args.values.requests);
const CONCURRENCY = Number(args.values.concurrency);
const PIECES = ["The ", "quick ", "brown ", "fox ", "jumps."];
const REPO = new URL("..", import.meta.url).pathname;

// ---- the fake upstream: OpenAI Chat, answering with the request's marker ----
let release: () => void = () => {};
let released = Promise.resolve();
function hold(): void {
  released = new Promise<void>((r) => release = r);
}
const enc = new TextEncoder();
const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const body = await req.json() as {
    stream?: boolean;
    messages: { content: string | { text?: string }[] }[];
  };
  const last = body.messages[body.messages.length - 1]?.content;
  const marker = typeof last === "string" ? last : last?.map((p) => p.text ?? "").join("") ?? "";
  if (!body.stream) {
    return Response.json({
      id: "chatcmpl-soak",
      object: "chat.completion",
      created: 1,
      model: "soak",
      choices: [{
        index: 0,
        message: { role: "assistant", content: `reply:${marker}` },
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
    });
  }
  const wait = released;
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    enc.encode(
      `data: ${
        JSON.stringify({
          id: "chatcmpl-soak",
          object: "chat.completion.chunk",
          created: 1,
          model: "soak",
          choices: [{ index: 0, delta, finish_reason: finish }],
        })
      }\n\n`,
    );
  return new Response(
    new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(chunk({ role: "assistant", content: PIECES[0] }, null));
        await wait;
        for (const p of PIECES.slice(1)) c.enqueue(chunk({ content: p }, null));
        c.enqueue(chunk({}, "stop"));
        c.enqueue(enc.encode("data: [DONE]\n\n"));
        c.close();
      },
    }),
    { headers: { "content-type": "text/event-stream" } },
  );
});

// ---- the gateway process ----
const dir = await Deno.makeTempDir();
const configPath = `${dir}/soak.json`;
await Deno.writeTextFile(
  configPath,
  JSON.stringify({
    providers: [{
      id: "soak",
      type: "openai",
      base_url: `http://127.0.0.1:${upstream.addr.port}`,
      api_keys: ["sk-soak"],
      models: ["soak"],
    }],
  }),
);
function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}
const port = freePort();
const inspectPort = freePort();
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    `--inspect=127.0.0.1:${inspectPort}`,
    "--config",
    `${REPO}deno.json`,
    `${REPO}main.ts`,
    "--config",
    configPath,
  ],
  env: { PORT: String(port), KV_PATH: `${dir}/data/kv.sqlite`, LOG_LEVEL: "warn", NO_COLOR: "1" },
  stdout: "null",
  stderr: "null",
}).spawn();
const base = `http://127.0.0.1:${port}`;
for (let i = 0;; i++) {
  try {
    if ((await fetch(`${base}/health`)).ok) break;
  } catch {
    // not up yet
  }
  if (i > 300) throw new Error("gateway did not start");
  await new Promise((r) => setTimeout(r, 50));
}

function memory(): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);

/** RSS and used JS heap after a full garbage collection, through a short inspector session. */
async function afterGc(): Promise<{ rss: number; heap: number }> {
  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("inspector session failed"));
  });
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data) as { id?: number; result?: unknown };
    if (m.id !== undefined) pending.get(m.id)?.(m.result);
  };
  const call = (method: string): Promise<unknown> => {
    const n = ++id;
    ws.send(JSON.stringify({ id: n, method }));
    return new Promise((resolve) => pending.set(n, resolve));
  };
  try {
    // Twice: the first pass can leave objects that only the second one frees (finalizers).
    await call("HeapProfiler.collectGarbage");
    await call("HeapProfiler.collectGarbage");
    const usage = await call("Runtime.getHeapUsage") as { usedSize: number };
    return { rss: memory().rss, heap: usage.usedSize };
  } finally {
    ws.close();
  }
}

// ---- client requests in three converted formats plus pass-through ----
type Format = "anthropic" | "responses" | "gemini" | "chat";
const FORMATS: Format[] = ["anthropic", "responses", "gemini", "chat"];

function request(format: Format, marker: string, stream: boolean): Request {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    new Request(base + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const messages = [{ role: "user", content: marker }];
  if (format === "anthropic") {
    return post("/v1/messages", { model: "soak", max_tokens: 64, messages, stream }, {
      "anthropic-version": "2023-06-01",
    });
  }
  if (format === "responses") {
    return post("/v1/responses", { model: "soak", input: marker, stream });
  }
  if (format === "chat") return post("/v1/chat/completions", { model: "soak", messages, stream });
  return post(
    `/v1beta/models/soak:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
    { contents: [{ role: "user", parts: [{ text: marker }] }] },
  );
}

/** The text of a converted stream and whether it ended the format's proper way. */
function streamText(format: Format, sse: string): { text: string; ended: boolean } {
  let text = "";
  let ended = false;
  for (const block of sse.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) =>
      l.slice(5).trim()
    ).join("\n");
    if (!data || data === "[DONE]") continue;
    const e = JSON.parse(data);
    if (format === "anthropic") {
      if (e.type === "content_block_delta") text += e.delta.text ?? "";
      if (e.type === "message_stop") ended = true;
    } else if (format === "responses") {
      if (e.type === "response.output_text.delta") text += e.delta;
      if (e.type === "response.completed") ended = true;
    } else {
      for (const p of e.candidates?.[0]?.content?.parts ?? []) text += p.text ?? "";
      if (e.candidates?.[0]?.finishReason === "STOP") ended = true;
    }
  }
  return { text, ended };
}

function answerText(format: Format, body: Record<string, unknown>): string {
  const b = body as Record<string, never>;
  if (format === "anthropic") return b.content?.[0]?.["text"] ?? "";
  if (format === "chat") return b.choices?.[0]?.["message"]?.["content"] ?? "";
  if (format === "gemini") return b.candidates?.[0]?.["content"]?.["parts"]?.[0]?.["text"] ?? "";
  return JSON.stringify(b.output ?? "");
}

interface Rep {
  idleStreamBytes: number;
  /** The same from the JS heap and from RSS alone. */
  idleHeapBytes: number;
  idleRssBytes: number;
  peak: number;
  settled: number;
  heap: number;
  lost: number;
  corrupted: number;
  seconds: number;
}

async function repetition(): Promise<Rep> {
  const started = performance.now();
  let lost = 0;
  let corrupted = 0;
  const before = await afterGc();
  hold();
  const streamFormats: Format[] = ["anthropic", "responses", "gemini"];
  let firstSeen = 0;
  let allFirst: () => void = () => {};
  const allFirstPromise = new Promise<void>((r) => allFirst = r);
  const dec = new TextDecoder();
  const streams = Array.from({ length: STREAMS }, async (_, i) => {
    const format = streamFormats[i % streamFormats.length];
    let counted = false;
    const count = () => {
      if (counted) return;
      counted = true;
      if (++firstSeen === STREAMS) allFirst();
    };
    try {
      const res = await fetch(request(format, `s${i}`, true));
      if (res.status !== 200 || !res.body) {
        count();
        lost++;
        await res.body?.cancel();
        return;
      }
      let sse = "";
      for await (const chunk of res.body) {
        sse += dec.decode(chunk, { stream: true });
        if (sse.includes(PIECES[0].trim())) count();
      }
      count();
      const { text, ended } = streamText(format, sse);
      if (!ended || text !== PIECES.join("")) corrupted++;
    } catch {
      count();
      lost++;
    }
  });
  await allFirstPromise;
  await new Promise((r) => setTimeout(r, 500));
  const open = await afterGc();
  release();
  await Promise.all(streams);

  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const format = FORMATS[i % FORMATS.length];
      try {
        const res = await fetch(request(format, `m${i}`, false));
        const body = await res.json();
        if (res.status !== 200) lost++;
        else if (!answerText(format, body).includes(`reply:m${i}`)) corrupted++;
      } catch {
        lost++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const peak = memory().hwm;
  await new Promise((r) => setTimeout(r, 3000));
  const settled = await afterGc();
  return {
    // RSS covers sockets and buffers outside the JS heap; the heap covers what RSS hides
    // inside pages V8 already held. The larger of the two is the honest figure.
    idleStreamBytes: Math.max(0, open.rss - before.rss, open.heap - before.heap) / STREAMS,
    idleHeapBytes: (open.heap - before.heap) / STREAMS,
    idleRssBytes: (open.rss - before.rss) / STREAMS,
    peak,
    settled: settled.rss,
    heap: settled.heap,
    lost,
    corrupted,
    seconds: (performance.now() - started) / 1000,
  };
}

console.log(
  `soak: ${REPS} repetitions of ${STREAMS} concurrent streams + ${REQUESTS} requests ` +
    `(concurrency ${CONCURRENCY}); gateway pid ${child.pid}, RSS after start ${
      mib(memory().rss)
    } MiB`,
);
const reps: Rep[] = [];
let failed = false;
try {
  for (let r = 1; r <= REPS; r++) {
    const rep = await repetition();
    reps.push(rep);
    console.log(
      `rep ${r}: ${rep.seconds.toFixed(1)} s, idle stream ${
        (rep.idleStreamBytes / 1024).toFixed(1)
      } KB (heap ${(rep.idleHeapBytes / 1024).toFixed(1)}, RSS ${
        (rep.idleRssBytes / 1024).toFixed(1)
      }), peak RSS ${mib(rep.peak)} MiB, after GC: RSS ${mib(rep.settled)} MiB, heap ${
        mib(rep.heap)
      } MiB; lost ${rep.lost}, corrupted ${rep.corrupted}`,
    );
  }
  const lost = reps.reduce((n, r) => n + r.lost + r.corrupted, 0);
  // The first repetition also grows the heap and pools to their working size: judged after it.
  const judged = reps.length > 1 ? reps.slice(1) : reps;
  const worstIdle = Math.max(...judged.map((r) => r.idleStreamBytes));
  const worstIdleHeap = Math.max(...judged.map((r) => r.idleHeapBytes));
  const last = reps[reps.length - 1];
  const growth = reps.length > 2 ? last.heap / reps[1].heap - 1 : 0;
  const rssGrowth = reps.length > 2 ? last.settled / reps[1].settled - 1 : 0;
  const checks: [string, boolean][] = [
    [`lost or corrupted responses: ${lost} (target 0)`, lost === 0],
    [
      `memory per idle open stream (reps 2+): ${(worstIdle / 1024).toFixed(1)} KB (target < 50)`,
      worstIdle < 50 * 1024,
    ],
    [
      `JS heap per idle open stream (reps 2+): ${(worstIdleHeap / 1024).toFixed(1)} KB ` +
      "(target <= 40)",
      worstIdleHeap <= 40 * 1024,
    ],
    [
      `heap after GC, growth from rep 2 to rep ${reps.length}: ${
        (growth * 100).toFixed(1)
      } % (target < 10; RSS after GC: ${(rssGrowth * 100).toFixed(1)} %)`,
      growth < 0.1,
    ],
  ];
  for (const [line, ok] of checks) {
    console.log(`${line}  ${ok ? "PASS" : "FAIL"}`);
    if (!ok) failed = true;
  }
} finally {
  child.kill("SIGTERM");
  await child.status;
  await upstream.shutdown();
  await Deno.remove(dir, { recursive: true });
}
if (failed) Deno.exit(1);
