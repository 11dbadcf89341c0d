// Attribution of a CPU profile (the inspector's sampling profiler) to the gateway's request
// stages. Used by `deno task profile`.
//
// Each sample's stack is walked from the innermost frame outwards; the first frame in the
// gateway's own code (or in Hono, or zod) names the stage, by file. Samples with no such frame
// are the runtime's own work (Deno.serve, fetch, promise machinery), and garbage collection is
// counted apart. The inspector's own work is left out; the profiled process is still slower
// than a plain one, so shares are applied to the CPU per request of a separate, unprofiled
// run. (V8's `--prof` tick log was tried first: its stacks lost most frames of optimised async
// code, which put 70 % of the gateway's own time in one lambda.)

/** The request stages `deno task profile` reports, in order. */
export const STAGES = [
  "auth",
  "parse",
  "route",
  "call",
  "relay",
  "observe",
  "framework",
  "fetch",
  "runtime",
  "gc",
] as const;
export type Stage = typeof STAGES[number];

/** What each stage covers, for the report. */
export const STAGE_NOTES: Record<Stage, string> = {
  auth: "client identity, managed keys, limits and admission (src/auth, client_keys, limits)",
  parse: "body read, JSON parse, format → IR (src/http/body, formats/*/request|schema, zod)",
  route: "model routes, credential pool, health (src/routing, accounts)",
  call: "upstream request and answer read (src/upstreams, http/deadline)",
  relay: "answer encoding and stream relay (formats/*/response|stream, sse, http streams)",
  observe: "stats, request log, usage scan, request id (src/observe)",
  framework: "Hono routing and the app's glue (hono, src/app.ts, src/server.ts)",
  fetch: "Deno's fetch() of the upstream (the forwarder makes the same call)",
  runtime: "Deno.serve, fetch and promise work outside any gateway frame",
  gc: "garbage collection",
};

/** The stage of a source file (a `file://` URL or path), or undefined for runtime code. */
export function stageOfFile(file: string): Stage | undefined {
  if (file.includes("/node_modules/") || file.includes("/.deno/")) {
    if (file.includes("/hono")) return "framework";
    if (file.includes("/zod")) return "parse";
    return undefined;
  }
  const m = /\/(src\/.+|main\.ts)$/.exec(file.replace(/:\d+:\d+$/, ""));
  if (!m) return undefined;
  const path = m[1];
  if (path === "main.ts" || path === "src/app.ts" || path === "src/server.ts") return "framework";
  if (/^src\/(auth|client_keys|limits)\//.test(path)) return "auth";
  if (path.startsWith("src/observe/")) return "observe";
  if (/^src\/(routing|accounts)\//.test(path) || path === "src/upstreams/registry.ts") {
    return "route";
  }
  if (path === "src/runtime_state.ts" || path.startsWith("src/config/")) return "route";
  if (path === "src/http/body.ts" || path.startsWith("src/ir/")) return "parse";
  if (/^src\/formats\/[^/]+\/(request|schema|format)\.ts$/.test(path)) return "parse";
  if (path === "src/formats/signature_carrier.ts" || path === "src/formats/client_format.ts") {
    return "parse";
  }
  if (path.startsWith("src/upstreams/") || path === "src/http/deadline.ts") return "call";
  if (path === "src/http/bytes_response.ts") return "call";
  if (path.startsWith("src/formats/") || path === "src/sse.ts" || path.startsWith("src/http/")) {
    return "relay";
  }
  if (path.startsWith("src/routes/")) return "parse";
  return "framework";
}

/** A CPU profile as the inspector's `Profiler.stop` returns it (the parts used here). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
}

/**
 * Samples per stage and their total. Idle samples are left out, and so is the inspector's own
 * work: with a session attached Deno reports every fetch as network events, work that exists
 * only while profiling. Inlined functions keep their own frames in these profiles.
 */
export function attributeSamples(
  profile: CpuProfile,
): { samples: Record<Stage, number>; total: number } {
  const samples = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Stage | "idle" | "inspector">();
  const stageOf = (id: number): Stage | "idle" | "inspector" => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let stage: Stage | "idle" | "inspector" = "runtime";
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { functionName, url } = byId.get(cur)!.callFrame;
      if (functionName === "(idle)") {
        stage = "idle";
        break;
      }
      if (functionName === "(garbage collector)") {
        stage = "gc";
        break;
      }
      if (
        functionName === "op_inspector_emit_protocol_event" ||
        url.includes("inspector_network_bridge")
      ) {
        stage = "inspector";
        break;
      }
      if (
        stage === "runtime" &&
        (functionName.startsWith("op_fetch") || url.includes("deno_fetch/26_fetch.js") ||
          url.includes("deno_fetch/23_request.js"))
      ) {
        stage = "fetch";
        continue;
      }
      if (stage === "runtime" && url.startsWith("file://")) {
        const found = stageOfFile(url);
        // The innermost gateway frame names the stage; outer frames are still walked for
        // the inspector's own work.
        if (found !== undefined) stage = found;
      }
    }
    memo.set(id, stage);
    return stage;
  };
  let total = 0;
  for (const id of profile.samples) {
    const stage = stageOf(id);
    if (stage === "idle" || stage === "inspector") continue;
    total++;
    samples[stage]++;
  }
  return { samples, total };
}
