// Memory held per in-flight large request: `deno run -A bench/body_memory.ts`.
//
// Starts the real gateway (`main.ts`, its own process) in front of a fake OpenAI upstream on
// 127.0.0.1 that reads each request and then holds its answer for a while, so every request
// is in flight at once. Sends N concurrent requests of about SIZE MB (one long user message)
// and samples the gateway's resident memory (/proc/PID/status, Linux) while they are held.
// Prints baseline RSS, peak RSS and (peak - baseline) / N per path:
//   native    - OpenAI Chat in, OpenAI upstream (the same-format pass-through)
//   converted - Anthropic Messages in, converted through the IR to OpenAI Chat
//   gemini    - Gemini generateContent in, converted to OpenAI Chat
// and how many requests were refused (503, the in-flight body budget) when the budget is set.
//
// Flags: --n N (concurrent requests, default 20), --size MB (default 15), --hold-ms MS (how
// long the upstream holds each answer, default 3000), --budget-mb MB (limits.max_inflight_body_bytes;
// default: the gateway's default), --paths native,converted,gemini.
// Bounded: every request has a 60 s deadline and the run stops the gateway at the end.

import { parseArgs } from "node:util";
import { type Gateway, startGatewayProcess } from "../tests/e2e/gateway_process.ts";

const args = parseArgs({
  options: {
    n: { type: "string", default: "20" },
    size: { type: "string", default: "15" },
    "hold-ms": { type: "string", default: "3000" },
    "budget-mb": { type: "string" },
    paths: { type: "string", default: "native,converted,gemini" },
  },
});
const N = Number(args.values.n);
const SIZE = Number(args.values.size) * 1024 * 1024;
const HOLD_MS = Number(args.values["hold-ms"]);
const BUDGET_MB = args.values["budget-mb"];
const PATHS = (args.values.paths ?? "").split(",").filter((p) => p !== "");

const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
  // Drained, not kept: this process also runs the clients, and should stay light.
  try {
    for await (const _ of req.body ?? []) { /* discard */ }
  } catch {
    // The gateway gave up on this request.
  }
  await new Promise((r) => setTimeout(r, HOLD_MS));
  return Response.json({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
});
const upstreamUrl = `http://127.0.0.1:${upstream.addr.port}`;

const dir = await Deno.makeTempDir({ prefix: "body-memory-" });
const limits: Record<string, number> = { max_body_bytes: SIZE + 1024 * 1024 };
if (BUDGET_MB !== undefined) limits.max_inflight_body_bytes = Number(BUDGET_MB) * 1024 * 1024;
await Deno.writeTextFile(
  `${dir}/config.json`,
  JSON.stringify({
    providers: [{ id: "up", type: "openai", base_url: upstreamUrl, api_keys: ["k"] }],
    models: { m: { routes: [{ provider: "up", model: "m" }] } },
    limits,
  }),
);
function bodyFor(
  gateway: Gateway,
  path: string,
): { url: string; body: string; headers: Record<string, string> } {
  const text = "x".repeat(SIZE);
  if (path === "converted") {
    return {
      url: `${gateway.url}/v1/messages`,
      headers: { "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "m",
        max_tokens: 16,
        messages: [{ role: "user", content: text }],
      }),
    };
  }
  if (path === "gemini") {
    return {
      url: `${gateway.url}/v1beta/models/m:generateContent`,
      headers: {},
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text }] }] }),
    };
  }
  return {
    url: `${gateway.url}/v1/chat/completions`,
    headers: {},
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: text }] }),
  };
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
async function rssOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

try {
  console.log(
    `n=${N} size=${(SIZE / 1048576).toFixed(0)}MB hold=${HOLD_MS}ms budget=${
      BUDGET_MB ?? "default"
    }`,
  );
  for (const path of PATHS) {
    // A fresh gateway per path: the heap one path grew would hide the next one's cost.
    const gateway = await startGatewayProcess({
      args: ["--config", `${dir}/config.json`],
      env: { KV_PATH: `${dir}/data/kv.sqlite3`, LOG_LEVEL: "info" },
    });
    try {
      const pid = gateway.pid;
      const { url, body, headers } = bodyFor(gateway, path);
      const bytes = new TextEncoder().encode(body);
      // Settle first: one warm-up request, then the baseline.
      await fetch(url, { method: "POST", body: bytes.slice(0, 64), headers }).then((r) =>
        r.body?.cancel()
      );
      await new Promise((r) => setTimeout(r, 500));
      const base = (await rssOf(pid)).rss;
      let peak = base;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, (await rssOf(pid)).rss);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const started = performance.now();
      const statuses = await Promise.all(
        Array.from({ length: N }, async () => {
          try {
            const res = await fetch(url, {
              method: "POST",
              body: bytes,
              headers: { "content-type": "application/json", ...headers },
              signal: AbortSignal.timeout(60_000),
            });
            await res.body?.cancel();
            return res.status;
          } catch {
            return 0; // no answer within 60 s
          }
        }),
      );
      sampling = false;
      await sampler;
      const counts: Record<number, number> = {};
      for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
      const admitted = statuses.filter((s) => s === 200).length;
      console.log(
        `${path.padEnd(9)} baseline ${base.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, ` +
          `+${(peak - base).toFixed(0)} MB; per admitted request ${
            admitted ? ((peak - base) / admitted).toFixed(1) : "-"
          } MB; statuses ${JSON.stringify(counts)}; ${(performance.now() - started).toFixed(0)} ms`,
      );
    } finally {
      await gateway.stop();
      const trouble = gateway.lines.filter((l) => /panic|uncaught|unhandled/i.test(l));
      if (trouble.length) console.log(trouble.slice(0, 5).join("\n"));
    }
  }
} finally {
  await upstream.shutdown();
  await Deno.remove(dir, { recursive: true });
}
