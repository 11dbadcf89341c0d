import assert from "node:assert/strict";

// The config module is data: it must stay importable without the routing and upstream code
// (the runtime state built from it lives in src/runtime_state.ts).
Deno.test("src/config imports neither routing/ nor upstreams/", async () => {
  const dir = new URL("../../src/config/", import.meta.url);
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    const imports = [...text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)]
      .map((m) => m[1]);
    for (const path of imports) {
      assert.ok(!/(^|\/)(routing|upstreams)\//.test(path), `${entry.name} imports ${path}`);
    }
  }
});
