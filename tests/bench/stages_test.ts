import assert from "node:assert/strict";
import { attributeSamples, type CpuProfile, stageOfFile } from "../../bench/stages.ts";

const ROOT = "file:///repo";

Deno.test("stageOfFile: each gateway module has its stage; runtime code has none", () => {
  assert.equal(stageOfFile(`${ROOT}/src/auth/client_identity.ts`), "auth");
  assert.equal(stageOfFile(`${ROOT}/src/limits/body_budget.ts`), "auth");
  assert.equal(stageOfFile(`${ROOT}/src/http/body.ts`), "parse");
  assert.equal(stageOfFile(`${ROOT}/src/formats/openai_chat/request.ts`), "parse");
  assert.equal(stageOfFile(`${ROOT}/src/routing/dispatch.ts`), "route");
  assert.equal(stageOfFile(`${ROOT}/src/upstreams/openai/forward.ts`), "call");
  assert.equal(stageOfFile(`${ROOT}/src/upstreams/registry.ts`), "route");
  assert.equal(stageOfFile(`${ROOT}/src/formats/anthropic/stream.ts`), "relay");
  assert.equal(stageOfFile(`${ROOT}/src/observe/observer.ts`), "observe");
  assert.equal(stageOfFile(`${ROOT}/src/app.ts`), "framework");
  assert.equal(
    stageOfFile(`${ROOT}/node_modules/.deno/hono@4/node_modules/hono/dist/x.js`),
    "framework",
  );
  assert.equal(stageOfFile(`${ROOT}/node_modules/.deno/zod@4/node_modules/zod/v4/x.js`), "parse");
  assert.equal(stageOfFile("ext:deno_fetch/26_fetch.js"), undefined);
});

Deno.test("attributeSamples: the innermost gateway frame names the stage; idle and the inspector's own work are left out", () => {
  const frame = (id: number, functionName: string, url: string, children?: number[]) => ({
    id,
    callFrame: { functionName, url, lineNumber: 0 },
    children,
  });
  const profile: CpuProfile = {
    nodes: [
      frame(1, "(root)", "", [2, 3, 4, 8, 9]),
      frame(2, "handler", `${ROOT}/src/app.ts`, [5]),
      frame(3, "(idle)", ""),
      frame(4, "(garbage collector)", ""),
      frame(5, "fetchUpstream", `${ROOT}/src/upstreams/fetch_upstream.ts`, [6, 7]),
      frame(6, "op_fetch_send", ""),
      frame(7, "emit", "ext:deno_node/inspector_network_bridge.js"),
      frame(8, "runMicrotasks", "ext:core/01_core.js"),
      frame(9, "parse", `${ROOT}/src/http/body.ts`),
    ],
    samples: [2, 3, 4, 5, 6, 7, 8, 9, 9],
  };
  const { samples, total } = attributeSamples(profile);
  assert.equal(total, 7); // idle and the inspector's emit left out
  assert.equal(samples.framework, 1);
  assert.equal(samples.gc, 1);
  assert.equal(samples.call, 1);
  assert.equal(samples.fetch, 1);
  assert.equal(samples.runtime, 1);
  assert.equal(samples.parse, 2);
});
