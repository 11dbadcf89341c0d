// CPU profile of the gateway under load:
//   deno task profile [chat|messages|stream] [SECONDS] [--prof]
// Spawns the bench upstream and the gateway, drives c=64 closed-loop load (chat: same-format
// OpenAI; messages: Anthropic converted to OpenAI; stream: OpenAI streaming) and profiles it.
// Default: the inspector's sampling profiler; prints self and inclusive time per function and
// writes /tmp/prof/MODE.cpuprofile (open it in Chrome DevTools). Caveat: with an inspector
// attached Deno reports every fetch as network events, which inflates fetch's share (~25%).
// --prof: V8's own tick log instead (/tmp/prof/v8.log, read with `node --prof-process`),
// without that skew but with native time attributed coarsely.
import { closedLoop, encodePost } from "./load_gen.ts";
import { CHAT_REQUEST, MESSAGES_REQUEST } from "./requests.ts";

const mode = Deno.args[0] ?? "chat";
const seconds = Number(Deno.args[1] ?? "5");
const repo = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir();
await Deno.mkdir("/tmp/prof", { recursive: true });
const PROF = Deno.args.includes("--prof");

function lines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): void {
  (async () => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  })();
}

const up = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", `${repo}bench/upstream.ts`],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const upUrl = await new Promise<string>((resolve) =>
  lines(up.stdout, (l) => {
    try {
      resolve(JSON.parse(l).url);
    } catch { /* not ours */ }
  })
);
await Deno.writeTextFile(
  `${tmp}/config.json`,
  JSON.stringify({
    providers: [{
      id: "bench",
      type: "openai",
      base_url: `${upUrl}/v1`,
      api_keys: ["sk-bench-1", "sk-bench-2"],
      models: ["bench-model"],
    }],
  }),
);
const port = 18000 + Math.floor(Math.random() * 1000);
const gw = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    ...(PROF
      ? ["--v8-flags=--prof,--logfile=/tmp/prof/v8.log,--no-logfile-per-isolate"]
      : ["--inspect=127.0.0.1:9339"]),
    "main.ts",
    "--config",
    `${tmp}/config.json`,
  ],
  cwd: repo,
  env: { PORT: String(port), HOST: "127.0.0.1", KV_PATH: `${tmp}/kv.sqlite3`, LOG_LEVEL: "warn" },
  stdin: "null",
  stdout: "null",
  stderr: "null",
}).spawn();
const url = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
  try {
    const r = await fetch(`${url}/health`);
    await r.body?.cancel();
    if (r.ok) break;
  } catch { /* starting */ }
  await new Promise((r) => setTimeout(r, 100));
}
const chat = CHAT_REQUEST;
const messages = MESSAGES_REQUEST;
const request = mode === "messages"
  ? encodePost(url, "/v1/messages", JSON.stringify(messages), "application/json", {
    "anthropic-version": "2023-06-01",
  })
  : mode === "stream"
  ? encodePost(
    url,
    "/v1/chat/completions",
    JSON.stringify({ ...chat, stream: true }),
    "text/event-stream",
  )
  : encodePost(url, "/v1/chat/completions", JSON.stringify(chat), "application/json");

if (PROF) {
  // V8's own sampler: no inspector attached, so fetch is not slowed by network events.
  await closedLoop({ url, request, connections: 64, durationMs: 1500 }); // warm-up
  const res = await closedLoop({ url, request, connections: 64, durationMs: seconds * 1000 });
  console.log(`rps ${res.rps.toFixed(0)}; now run: node --prof-process /tmp/prof/v8.log`);
  gw.kill("SIGINT");
  await gw.status;
  up.stdin.close();
  await up.status;
  await Deno.remove(tmp, { recursive: true });
  Deno.exit(0);
}
const targets = await (await fetch("http://127.0.0.1:9339/json/list")).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((r) => ws.onopen = r);
let id = 0;
const pending = new Map<number, (v: unknown) => void>();
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.id && pending.has(m.id)) pending.get(m.id)!(m.result);
};
const send = (method: string, params: unknown = {}): Promise<unknown> => {
  const i = ++id;
  ws.send(JSON.stringify({ id: i, method, params }));
  return new Promise((r) => pending.set(i, r));
};

await closedLoop({ url, request, connections: 64, durationMs: 1500 }); // warm-up
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
const res = await closedLoop({ url, request, connections: 64, durationMs: seconds * 1000 });
const { profile } = await send("Profiler.stop") as {
  profile: {
    nodes: {
      id: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
      children?: number[];
    }[];
    samples: number[];
  };
};
console.log(`rps ${res.rps.toFixed(0)} non2xx ${res.non2xx} errors ${res.errors}`);
await Deno.writeTextFile(`/tmp/prof/${mode}.cpuprofile`, JSON.stringify(profile));
const self = new Map<string, number>();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const total = profile.samples.length;
// Inclusive time per (own-code) function: counted once per sample.
const incl = new Map<string, number>();
for (const s of profile.samples) {
  const n = byId.get(s)!;
  const key = `${n.callFrame.functionName || "(anon)"} ${
    n.callFrame.url.replace(/^.*\/(work\/main|node_modules\/.deno)\//, "")
  }:${n.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + 1);
  const seen = new Set<string>();
  for (let cur: number | undefined = s; cur !== undefined; cur = parent.get(cur)) {
    const c = byId.get(cur)!.callFrame;
    if (!c.url.includes("/work/main/src") && !c.url.includes("/work/main/main.ts")) continue;
    const k = `${c.functionName || "(anon)"} ${c.url.replace(/^.*\/work\/main\//, "")}:${
      c.lineNumber + 1
    }`;
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + 1);
  }
}
const pct = (n: number) => (100 * n / total).toFixed(1).padStart(5);
console.log("--- self");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(pct(v), k);
console.log("--- inclusive (src/)");
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(pct(v), k);
ws.close();
gw.kill();
up.stdin.close();
await gw.status;
await up.status;
await Deno.remove(tmp, { recursive: true });
