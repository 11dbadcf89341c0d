import assert from "node:assert/strict";
import { startGatewayProcess } from "./gateway_process.ts";

/**
 * KV contention on admin writes (issue 19, item 7): two gateway processes sharing one local KV
 * file take concurrent `PUT /admin/config`. Writes that collide are retried with bounded
 * backoff; what is left is a 503 with Retry-After or a 409, never a 500.
 */
Deno.test("two processes on one KV file: 20 concurrent PUT /admin/config, no 500s", async () => {
  const dir = await Deno.makeTempDir();
  const env = { KV_PATH: `${dir}/kv.sqlite3`, ADMIN_TOKEN: "admin-contention-5c1e" };
  const a = await startGatewayProcess({ env });
  const b = await startGatewayProcess({ env });
  try {
    const put = async (url: string, i: number) => {
      const res = await fetch(`${url}/admin/config`, {
        method: "PUT",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          providers: [{ id: `p${i}`, type: "echo", models: [`m${i}`] }],
          limits: { max_body_bytes: 1_000_000 + i },
        }),
      });
      const body = await res.text();
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body };
    };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put(i % 2 === 0 ? a.url : b.url, i)),
    );
    for (const r of answers) {
      assert.ok([200, 409, 503].includes(r.status), `${r.status}: ${r.body}`);
      if (r.status === 503) assert.ok(Number(r.retryAfter) >= 1, "503 carries Retry-After");
    }
    const ok = answers.filter((r) => r.status === 200).length;
    assert.ok(ok >= 1, "some writes landed");
    // Every landed write is a version of its own: none was lost or overwritten.
    const history = await fetch(`${a.url}/admin/config/history`, {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    const versions = (await history.json() as { versions: { version: number }[] }).versions;
    assert.equal(versions.length, ok);
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two processes on one KV file: concurrent account adds and edits, no 500s", async () => {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      providers: [{ id: "oa", type: "openai", base_url: "http://127.0.0.1:9/v1", models: ["m"] }],
    }),
  );
  const env = { KV_PATH: `${dir}/kv.sqlite3`, ADMIN_TOKEN: "admin-contention-8d2a" };
  const a = await startGatewayProcess({ args: ["--config", config], env });
  const b = await startGatewayProcess({ args: ["--config", config], env });
  const headers = {
    authorization: `Bearer ${env.ADMIN_TOKEN}`,
    "content-type": "application/json",
  };
  const call = async (url: string, method: string, path: string, body: unknown) => {
    const res = await fetch(`${url}/admin/credentials/oa${path}`, {
      method,
      headers,
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      retryAfter: res.headers.get("retry-after"),
      body: await res.text(),
    };
  };
  try {
    const adds = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => call(i % 2 ? a.url : b.url, "POST", "", { api_key: `sk-contended-${i}` }),
      ),
    );
    const first = adds.find((r) => r.status === 201);
    assert.ok(first, "some adds landed");
    const id = (JSON.parse(first.body) as { id: string }).id;
    const edits = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => call(i % 2 ? a.url : b.url, "PATCH", `/${id}`, { label: `edit-${i}` }),
      ),
    );
    for (const r of [...adds, ...edits]) {
      assert.ok([200, 201, 409, 503].includes(r.status), `${r.status}: ${r.body}`);
      if (r.status === 503) assert.equal(r.retryAfter, "1");
    }
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
