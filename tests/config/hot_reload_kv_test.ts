import assert from "node:assert/strict";
import {
  DENO_JSON,
  GATEWAY_ENV,
  MAIN,
  sleep,
  startGatewayProcess,
} from "../e2e/gateway_process.ts";

const ADMIN = { authorization: "Bearer admin-hot-1" };

async function modelIds(url: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/models`);
  const body = await res.json() as { data: { id: string }[] };
  return body.data.map((m) => m.id).sort();
}

async function until(f: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await f()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * The real process (main.ts): a KV config PUT, then a file edit. The file's new providers apply,
 * its `models` section stays overridden by the KV's, and env keeps the last word on the token.
 */
Deno.test("main.ts: file hot reload under a KV config keeps env > KV > file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const file = (providers: unknown[], models: Record<string, unknown>) =>
    Deno.writeTextFile(
      path,
      JSON.stringify({ auth: { admin_token: "file-token-unused" }, providers, models }),
    );
  const demo = { id: "demo", type: "echo", models: ["demo"] };
  await file([demo], { "from-file": { routes: [{ provider: "demo", model: "demo" }] } });
  const gw = await startGatewayProcess({
    args: ["--config", path],
    env: { KV_PATH: `${dir}/kv.sqlite3`, ADMIN_TOKEN: "admin-hot-1" },
  });
  try {
    assert.deepEqual(await modelIds(gw.url), ["demo", "from-file"]);
    const put = await fetch(`${gw.url}/admin/config`, {
      method: "PUT",
      headers: ADMIN,
      body: JSON.stringify({
        models: { "from-kv": { routes: [{ provider: "demo", model: "demo" }] } },
      }),
    });
    assert.equal(put.status, 200, await put.text());
    assert.deepEqual(await modelIds(gw.url), ["demo", "from-kv"]);

    await file(
      [demo, { id: "demo2", type: "echo", models: ["demo2"] }],
      { "from-file-2": { routes: [{ provider: "demo2", model: "demo2" }] } },
    );
    await until(async () => (await modelIds(gw.url)).includes("demo2"), "the file edit");
    assert.deepEqual(await modelIds(gw.url), ["demo", "demo2", "from-kv"]);

    const view = await (await fetch(`${gw.url}/admin/config`, { headers: ADMIN })).json() as {
      sources: Record<string, string>;
      version: number;
    };
    assert.equal(view.version, 1);
    assert.equal(view.sources.models, "kv");
    assert.equal(view.sources.providers, "file");
    assert.equal(view.sources["auth.admin_token"], "env");
    // The file's admin token never took effect: env wins.
    const fileToken = await fetch(`${gw.url}/admin/config`, {
      headers: { authorization: "Bearer file-token-unused" },
    });
    assert.equal(fileToken.status, 401);
    await fileToken.body?.cancel();
  } finally {
    await gw.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts on Deno Deploy (DENO_DEPLOY=1) without client keys refuses to start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config.json`, "{}");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", DENO_JSON, MAIN, "--config", `${dir}/config.json`],
      env: { ...Object.fromEntries(GATEWAY_ENV.map((k) => [k, ""])), DENO_DEPLOY: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, err);
    assert.match(err, /refusing to start: .*no client keys/);
    assert.ok(!err.includes(" at "), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
