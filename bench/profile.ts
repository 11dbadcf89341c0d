// CPU per request of the gateway by stage, and profiles of it under load:
//   deno task profile [chat|messages|stream] [SECONDS] [--inspector | --prof]
// Spawns the bench upstream, the minimal forwarder and the gateway (pinned like `deno task
// bench`: the proxy under test on the last CPU), drives c=64 closed-loop load (chat:
// same-format OpenAI; messages: Anthropic converted to OpenAI; stream: OpenAI streaming).
// Default: measures the forwarder's and the gateway's CPU per request, then profiles a second
// gateway with the inspector's sampler and attributes the samples to stages — auth, parse,
// route, call, relay, observe, framework, runtime, gc (`bench/stages.ts`) — printing µs per
// request for each and what the gateway spends beyond the forwarder. The profile is kept in
// /tmp/prof/MODE.cpuprofile (open it in Chrome DevTools).
// --inspector: self and inclusive time per function instead of stages. Caveat: with an
// inspector attached Deno reports every fetch as network events, which inflates fetch (~25%);
// the stage report leaves that work out.
// --prof: V8's tick log of a normally optimised gateway only (/tmp/prof/v8.log, for
// `node --prof-process`).
import { closedLoop, encodePost } from "./load_gen.ts";
import { CHAT_REQUEST, MESSAGES_REQUEST } from "./requests.ts";
import { attributeSamples, type CpuProfile, STAGE_NOTES, STAGES } from "./stages.ts";

const positional = Deno.args.filter((a) => !a.startsWith("--"));
const mode = positional[0] ?? "chat";
const seconds = Number(positional[1] ?? "5");
const repo = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir();
await Deno.mkdir("/tmp/prof", { recursive: true });
const PROF = Deno.args.includes("--prof");
const INSPECTOR = Deno.args.includes("--inspector");
const LOG = "/tmp/prof/v8.log";
const PIN = navigator.hardwareConcurrency >= 2 && hasTaskset();
const PROXY_CPU = String(navigator.hardwareConcurrency - 1);

function hasTaskset(): boolean {
  try {
    return new Deno.Command("taskset", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** `deno run -A ...args`, pinned to `cpu` when pinning. */
function denoCommand(cpu: string, args: string[], options: Deno.CommandOptions): Deno.Command {
  if (!PIN) return new Deno.Command(Deno.execPath(), { ...options, args: ["run", "-A", ...args] });
  return new Deno.Command("taskset", {
    ...options,
    args: ["-c", cpu, Deno.execPath(), "run", "-A", ...args],
  });
}

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

function urlOf(child: Deno.ChildProcess): Promise<string> {
  return new Promise<string>((resolve) =>
    lines(child.stdout, (l) => {
      try {
        resolve(JSON.parse(l).url);
      } catch { /* not ours */ }
    })
  );
}

/** utime+stime of a process in ms (the usual CLK_TCK of 100). */
function cpuMs(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const up = denoCommand("0", [`${repo}bench/upstream.ts`], {
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const upUrl = await urlOf(up);
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

/** Starts a gateway with `flags` before main.ts; resolves once /health answers. */
async function startGateway(
  flags: string[],
): Promise<{ child: Deno.ChildProcess; url: string }> {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const child = denoCommand(PROXY_CPU, [...flags, "main.ts", "--config", `${tmp}/config.json`], {
    cwd: repo,
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      KV_PATH: `${tmp}/data/kv-${port}.sqlite3`,
      LOG_LEVEL: "warn",
    },
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
  return { child, url };
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

function requestFor(url: string, as: string = mode): Uint8Array {
  return as === "messages"
    ? encodePost(url, "/v1/messages", JSON.stringify(MESSAGES_REQUEST), "application/json", {
      "anthropic-version": "2023-06-01",
    })
    : as === "stream"
    ? encodePost(
      url,
      "/v1/chat/completions",
      JSON.stringify({ ...CHAT_REQUEST, stream: true }),
      "text/event-stream",
    )
    : encodePost(url, "/v1/chat/completions", JSON.stringify(CHAT_REQUEST), "application/json");
}

/** Warms up, then drives c=64 for `seconds`: requests per second and CPU µs per request. */
async function measure(
  url: string,
  pid: number,
  request: Uint8Array = requestFor(url),
): Promise<{ rps: number; cpuUs: number }> {
  await closedLoop({ url, request, connections: 64, durationMs: 2000 }); // warm-up (JIT)
  const before = cpuMs(pid);
  const res = await closedLoop({ url, request, connections: 64, durationMs: seconds * 1000 });
  const cpuUs = (cpuMs(pid) - before) * 1000 / res.requests;
  if (res.non2xx || res.errors) console.log(`non-2xx ${res.non2xx}, errors ${res.errors}`);
  return { rps: res.rps, cpuUs };
}

try {
  if (INSPECTOR) await inspectorProfile();
  else if (PROF) await plainTickLog();
  else await stageProfile();
} finally {
  up.stdin.close();
  await up.status;
  await Deno.remove(tmp, { recursive: true });
}

/** The default: CPU per request by stage, against the forwarder. */
async function stageProfile(): Promise<void> {
  const fw = denoCommand(PROXY_CPU, [`${repo}bench/forwarder.ts`, upUrl], {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const fwUrl = await urlOf(fw);
  // The forwarder cannot convert: it always relays the OpenAI form of the request (as in
  // `deno task bench`, where "converted" is judged against the same forwarder).
  const forwarderMode = mode === "messages" ? "chat" : mode;
  const forwarder = await measure(fwUrl, fw.pid, requestFor(fwUrl, forwarderMode));
  fw.stdin.close();
  await fw.status;
  const clean = await startGateway([]);
  const gateway = await measure(clean.url, clean.child.pid);
  await stop(clean.child);
  const profiled = await startGateway(["--inspect=127.0.0.1:9339"]);
  const profile = await inspectorRun(profiled.url);
  await stop(profiled.child);
  await Deno.writeTextFile(`/tmp/prof/${mode}.cpuprofile`, JSON.stringify(profile));
  const { samples: ticks, total } = attributeSamples(profile);
  const f = (n: number, w = 6) => n.toFixed(0).padStart(w);
  console.log(`mode ${mode}, c=64, ${seconds} s per run${PIN ? ", proxies pinned" : ""}`);
  console.log(
    `forwarder: ${f(forwarder.rps, 0)} req/s, ${f(forwarder.cpuUs, 0)} µs CPU/req; gateway: ` +
      `${f(gateway.rps, 0)} req/s, ${f(gateway.cpuUs, 0)} µs CPU/req ` +
      `(ratio ${(gateway.rps / forwarder.rps).toFixed(3)}); ${total} samples ` +
      `(/tmp/prof/${mode}.cpuprofile)`,
  );
  console.log("stage        share   µs/req  what");
  for (const stage of STAGES) {
    const share = total === 0 ? 0 : ticks[stage] / total;
    console.log(
      `${stage.padEnd(10)} ${(100 * share).toFixed(1).padStart(6)}% ${
        f(share * gateway.cpuUs, 7)
      }  ${STAGE_NOTES[stage]}`,
    );
  }
  const own = STAGES.filter((s) => s !== "runtime" && s !== "gc" && s !== "fetch")
    .reduce((n, s) => n + ticks[s], 0);
  const runtimeUs = ((ticks.runtime + ticks.gc + ticks.fetch) / Math.max(1, total)) *
    gateway.cpuUs;
  console.log(
    `gateway code ${f((own / Math.max(1, total)) * gateway.cpuUs, 0)} µs/req; fetch+runtime+gc ` +
      `${f(runtimeUs, 0)} µs/req against the forwarder's ${f(forwarder.cpuUs, 0)} µs/req in all; ` +
      `extra over the forwarder ${f(gateway.cpuUs - forwarder.cpuUs, 0)} µs/req`,
  );
}

/** `--prof`: a tick log of a normally optimised gateway. */
async function plainTickLog(): Promise<void> {
  const gw = await startGateway([`--v8-flags=--prof,--logfile=${LOG},--no-logfile-per-isolate`]);
  const res = await measure(gw.url, gw.child.pid);
  await stop(gw.child);
  console.log(
    `rps ${res.rps.toFixed(0)}, ${res.cpuUs.toFixed(0)} µs CPU/req (profiling on); ` +
      `now run: node --prof-process ${LOG}`,
  );
}

/** Profiles a gateway started with `--inspect=127.0.0.1:9339` under c=64 load. */
async function inspectorRun(url: string): Promise<CpuProfile & { rps: number }> {
  const request = requestFor(url);
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
  await closedLoop({ url, request, connections: 64, durationMs: 2000 }); // warm-up
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  const res = await closedLoop({ url, request, connections: 64, durationMs: seconds * 1000 });
  const { profile } = await send("Profiler.stop") as { profile: CpuProfile };
  ws.close();
  if (res.non2xx || res.errors) console.log(`non-2xx ${res.non2xx}, errors ${res.errors}`);
  return { ...profile, rps: res.rps };
}

/** `--inspector`: the inspector's sampling profiler, self and inclusive time per function. */
async function inspectorProfile(): Promise<void> {
  const gw = await startGateway(["--inspect=127.0.0.1:9339"]);
  const profile = await inspectorRun(gw.url);
  await stop(gw.child);
  console.log(`rps ${profile.rps.toFixed(0)}`);
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
}
