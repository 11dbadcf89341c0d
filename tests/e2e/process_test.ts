/**
 * The real entrypoint as a child process (`deno run -A main.ts`), as an operator starts it:
 * config loading and refusal (exit code 2, one line per problem), YAML configs, environment
 * overrides, the exposure guard, the empty default config, hot reload, and the bundled demo.
 */
import assert from "node:assert/strict";

import {
  type Gateway,
  runToExit,
  sleep,
  STACK_FRAME,
  startGatewayProcess,
} from "./gateway_process.ts";

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

async function modelIds(gw: Gateway, headers: Record<string, string> = {}): Promise<string[]> {
  const a = await get(`${gw.url}/v1/models`, headers);
  assert.equal(a.status, 200, a.text);
  const body = a.json as { object: string; data: Array<{ id: string }> };
  assert.equal(body.object, "list");
  return body.data.map((m) => m.id);
}

/** A temp dir with a KV path inside it, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-e2e-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const ECHO_CONFIG = { providers: [{ id: "demo", type: "echo", models: ["demo"] }] };

function configErrors(stderr: string[]): string[] {
  return stderr.filter((l) => l.startsWith("config error:"));
}

Deno.test("an invalid config exits with code 2 and one line per problem naming the field path", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        bogus_top_level: true,
        providers: [
          { id: "demo", type: "echo", models: ["demo"] },
          { id: "up", type: "openai", base_url: "not a url", models: ["m"] },
          { id: "demo", type: "echo", models: ["other"] },
        ],
      }),
    );
    const { code, stderr } = await runToExit({
      args: ["--config", path],
      env: { KV_PATH: `${dir}/kv.sqlite3` },
    });
    assert.equal(code, 2, stderr.join("\n"));
    const errors = configErrors(stderr);
    assert.ok(
      errors.some((l) => l.includes("providers[1].base_url") && /URL/.test(l)),
      `base_url problem named by path:\n${stderr.join("\n")}`,
    );
    assert.ok(
      errors.some((l) => l.includes("bogus_top_level")),
      `unknown key named:\n${stderr.join("\n")}`,
    );
    assert.ok(
      errors.some((l) => l.includes("providers[2].id") && /duplicate/.test(l)),
      `duplicate id named by path:\n${stderr.join("\n")}`,
    );
    assert.ok(!stderr.some((l) => l.includes("listening")), "never started listening");
    assert.ok(!STACK_FRAME.test(stderr.join("\n")), "no stack trace");
  });
});

Deno.test({
  name: "one invalid field is reported on one line, not twice",
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/bad.json`;
      await Deno.writeTextFile(
        path,
        JSON.stringify({
          providers: [{ id: "up", type: "openai", base_url: "not a url", models: ["m"] }],
        }),
      );
      const { code, stderr } = await runToExit({
        args: ["--config", path],
        env: { KV_PATH: `${dir}/kv.sqlite3` },
      });
      assert.equal(code, 2);
      const lines = configErrors(stderr).filter((l) => l.includes("providers[0].base_url"));
      assert.equal(lines.length, 1, lines.join("\n"));
    });
  },
});

Deno.test("an explicit config path that does not exist exits with code 2 (flag and env)", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/does-not-exist.json`;
    const [flag, env] = await Promise.all([
      runToExit({ args: ["--config", missing], env: { KV_PATH: `${dir}/kv1.sqlite3` } }),
      runToExit({ env: { LLM_PROXY_CONFIG: missing, KV_PATH: `${dir}/kv2.sqlite3` } }),
    ]);
    for (const r of [flag, env]) {
      assert.equal(r.code, 2, r.stderr.join("\n"));
      const errors = configErrors(r.stderr);
      assert.equal(errors.length, 1, r.stderr.join("\n"));
      assert.ok(errors[0].includes(missing), errors[0]);
      assert.match(errors[0], /not found/);
    }
  });
});

Deno.test("invalid JSON and invalid YAML exit with code 2 and a one-line reason", async () => {
  await withTempDir(async (dir) => {
    const json = `${dir}/broken.json`;
    const yaml = `${dir}/broken.yaml`;
    await Deno.writeTextFile(json, '{ "providers": [ { "id": "demo", ');
    await Deno.writeTextFile(yaml, "providers:\n  - id: demo\n    type: echo\n   models: [demo\n");
    const [j, y] = await Promise.all([
      runToExit({ args: ["--config", json], env: { KV_PATH: `${dir}/kv1.sqlite3` } }),
      runToExit({ args: ["--config", yaml], env: { KV_PATH: `${dir}/kv2.sqlite3` } }),
    ]);
    for (const [r, kind, path] of [[j, "JSON", json], [y, "YAML", yaml]] as const) {
      assert.equal(r.code, 2, r.stderr.join("\n"));
      const errors = configErrors(r.stderr);
      assert.equal(errors.length, 1, `one line:\n${r.stderr.join("\n")}`);
      assert.ok(errors[0].includes(path), errors[0]);
      assert.ok(errors[0].includes(`not valid ${kind}`), errors[0]);
      assert.ok(!STACK_FRAME.test(r.stderr.join("\n")), "no stack trace");
    }
  });
});

Deno.test("a YAML config starts and serves its models at /v1/models", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/gateway.yaml`;
    await Deno.writeTextFile(
      path,
      [
        "# a YAML config",
        "providers:",
        "  - id: demo",
        "    type: echo",
        "    models: [yaml-demo, yaml-other]",
        "models:",
        "  yaml-alias:",
        "    routes:",
        "      - provider: demo",
        "        model: yaml-demo",
        "",
      ].join("\n"),
    );
    const gw = await startGatewayProcess({
      args: ["--config", path],
      env: { KV_PATH: `${dir}/kv.sqlite3` },
    });
    try {
      const ids = await modelIds(gw);
      for (const id of ["yaml-demo", "yaml-other", "yaml-alias"]) {
        assert.ok(ids.includes(id), `lists ${id}: ${ids.join(", ")}`);
      }
    } finally {
      await gw.stop();
    }
  });
});

Deno.test("env PROXY_API_KEYS overrides the file's client keys", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/keys.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ...ECHO_CONFIG, auth: { api_keys: ["file-key-123"] } }),
    );
    const gw = await startGatewayProcess({
      args: ["--config", path],
      env: { PROXY_API_KEYS: "k1-aaaa, k2-bbbb", KV_PATH: `${dir}/kv.sqlite3` },
    });
    try {
      const none = await get(`${gw.url}/v1/models`);
      assert.equal(none.status, 401, none.text);
      const wrong = await get(`${gw.url}/v1/models`, { authorization: "Bearer k3-cccc" });
      assert.equal(wrong.status, 401, wrong.text);
      const fileKey = await get(`${gw.url}/v1/models`, { authorization: "Bearer file-key-123" });
      assert.equal(fileKey.status, 401, "the env list replaces the file's keys");
      assert.ok((await modelIds(gw, { authorization: "Bearer k2-bbbb" })).includes("demo"));
      assert.ok((await modelIds(gw, { "x-api-key": "k1-aaaa" })).includes("demo"));
      const health = await get(`${gw.url}/health`);
      assert.equal(health.status, 200, "health stays public");
    } finally {
      await gw.stop();
    }
  });
});

Deno.test("env LLM_PROXY_CONFIG is used when no --config is given", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/from-env.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ providers: [{ id: "e", type: "echo", models: ["from-env-model"] }] }),
    );
    // cwd is the repo, whose local.json would otherwise be the default.
    const gw = await startGatewayProcess({
      env: { LLM_PROXY_CONFIG: path, KV_PATH: `${dir}/kv.sqlite3` },
    });
    try {
      const ids = await modelIds(gw);
      assert.deepEqual(ids, ["from-env-model"]);
    } finally {
      await gw.stop();
    }
  });
});

Deno.test("HOST=0.0.0.0 without client keys refuses to start unless ALLOW_OPEN=1", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/open.json`;
    await Deno.writeTextFile(path, JSON.stringify(ECHO_CONFIG));
    const refused = await runToExit({
      args: ["--config", path],
      env: { HOST: "0.0.0.0", KV_PATH: `${dir}/kv0.sqlite3` },
    });
    assert.equal(refused.code, 2, refused.stderr.join("\n"));
    assert.ok(
      refused.stderr.some((l) => l.includes("ALLOW_OPEN")),
      `mentions ALLOW_OPEN:\n${refused.stderr.join("\n")}`,
    );
    assert.ok(!refused.stderr.some((l) => l.includes("listening")));

    const open = await startGatewayProcess({
      args: ["--config", path],
      env: { HOST: "0.0.0.0", ALLOW_OPEN: "1", KV_PATH: `${dir}/kv1.sqlite3` },
    });
    const keyed = await startGatewayProcess({
      args: ["--config", path],
      env: { HOST: "0.0.0.0", PROXY_API_KEYS: "k-open", KV_PATH: `${dir}/kv2.sqlite3` },
    }).catch(async (err) => {
      await open.stop();
      throw err;
    });
    try {
      assert.equal((await get(`${open.url}/health`)).status, 200);
      assert.ok((await modelIds(open)).includes("demo"));
      assert.ok(
        open.lines.some((l) => /no client keys/i.test(l)),
        `warns that it is open:\n${open.lines.join("\n")}`,
      );
      // Client keys make a public bind fine.
      assert.equal((await get(`${keyed.url}/v1/models`)).status, 401);
      assert.ok((await modelIds(keyed, { authorization: "Bearer k-open" })).includes("demo"));
    } finally {
      await Promise.all([open.stop(), keyed.stop()]);
    }
  });
});

Deno.test("no config file at the default path: starts empty and says so in one line", async () => {
  await withTempDir(async (dir) => {
    const gw = await startGatewayProcess({ cwd: dir, env: { KV_PATH: `${dir}/kv.sqlite3` } });
    try {
      const said = gw.lines.filter((l) => /no config file/i.test(l));
      assert.equal(said.length, 1, gw.lines.join("\n"));
      assert.ok(said[0].includes("local.json"), said[0]);
      const health = await get(`${gw.url}/health`);
      assert.equal(health.status, 200, health.text);
      assert.deepEqual(await modelIds(gw), []);
    } finally {
      await gw.stop();
    }
  });
});

Deno.test("hot reload: an edit is picked up; an invalid edit is rejected and logged", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/hot.json`;
    await Deno.writeTextFile(path, JSON.stringify(ECHO_CONFIG));
    const gw = await startGatewayProcess({
      args: ["--config", path],
      env: { KV_PATH: `${dir}/kv.sqlite3` },
    });
    try {
      assert.deepEqual(await modelIds(gw), ["demo"]);

      await Deno.writeTextFile(
        path,
        JSON.stringify({ providers: [{ id: "demo", type: "echo", models: ["demo", "demo2"] }] }),
      );
      const deadline = Date.now() + 5000;
      let ids = await modelIds(gw);
      while (!ids.includes("demo2") && Date.now() < deadline) {
        await sleep(100);
        ids = await modelIds(gw);
      }
      assert.ok(ids.includes("demo2"), `demo2 listed within 5 s:\n${gw.lines.join("\n")}`);

      await Deno.writeTextFile(
        path,
        JSON.stringify({ providers: [{ id: "demo", type: "no-such-type", models: ["demo3"] }] }),
      );
      const rejected = await gw.waitForLine(/config edit rejected/, 5000);
      assert.ok(rejected.includes("providers[0].type"), `names the problem: ${rejected}`);
      const after = await modelIds(gw);
      assert.ok(after.includes("demo2"), "the last good config keeps serving");
      assert.ok(!after.includes("demo3"));

      // Broken JSON is rejected the same way.
      const before = gw.lines.filter((l) => /config edit rejected/.test(l)).length;
      await Deno.writeTextFile(path, '{ "providers": ');
      const end = Date.now() + 5000;
      while (
        gw.lines.filter((l) => /config edit rejected/.test(l)).length === before &&
        Date.now() < end
      ) {
        await sleep(50);
      }
      const last = gw.lines.filter((l) => /config edit rejected/.test(l)).at(-1) ?? "";
      assert.ok(last.includes("not valid JSON"), `rejects broken JSON:\n${gw.lines.join("\n")}`);
      assert.ok((await modelIds(gw)).includes("demo2"));
    } finally {
      await gw.stop();
    }
  });
});

Deno.test("the bundled local.json starts and its demo model echoes, plain and streaming", async () => {
  await withTempDir(async (dir) => {
    // cwd = repo root and no --config: the default ./local.json, as `deno task start` runs it.
    const gw = await startGatewayProcess({ env: { KV_PATH: `${dir}/kv.sqlite3` } });
    try {
      assert.ok(gw.lines.some((l) => l.includes("local.json")), gw.lines.join("\n"));
      const ask = (body: Record<string, unknown>) =>
        fetch(`${gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "demo",
            messages: [{ role: "user", content: "hello from the process test" }],
            ...body,
          }),
          signal: AbortSignal.timeout(5000),
        });

      const plain = await ask({});
      const text = await plain.text();
      assert.equal(plain.status, 200, text);
      const completion = JSON.parse(text) as {
        object: string;
        choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
      };
      assert.equal(completion.object, "chat.completion");
      assert.equal(completion.choices[0].message.role, "assistant");
      assert.equal(completion.choices[0].message.content, "hello from the process test");
      assert.equal(completion.choices[0].finish_reason, "stop");

      const streamed = await ask({ stream: true });
      assert.equal(streamed.status, 200);
      assert.match(streamed.headers.get("content-type") ?? "", /^text\/event-stream/);
      const sse = await streamed.text();
      const data = sse.split(/\r?\n\r?\n/)
        .map((event) =>
          event.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) =>
            l.slice(5).trimStart()
          ).join("\n")
        )
        .filter((d) => d !== "");
      assert.equal(data.at(-1), "[DONE]", sse);
      const chunks = data.slice(0, -1).map((d) =>
        JSON.parse(d) as {
          object: string;
          choices: Array<{ delta: { content?: string }; finish_reason: string | null }>;
        }
      );
      const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? ""))
        .filter((d) => d !== "");
      assert.deepEqual(deltas, ["hello ", "from ", "the ", "process ", "test"]);
      assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
      assert.ok(chunks.some((c) => c.choices.some((ch) => ch.finish_reason === "stop")));
    } finally {
      await gw.stop();
    }
  });
});

Deno.test("hot reload: a save by rename is picked up, and env overrides still win afterwards", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/renamed.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ...ECHO_CONFIG, auth: { api_keys: ["file-key-1"] } }),
    );
    const gw = await startGatewayProcess({
      args: ["--config", path],
      env: { PROXY_API_KEYS: "env-key-1", KV_PATH: `${dir}/kv.sqlite3` },
    });
    try {
      const auth = { authorization: "Bearer env-key-1" };
      assert.deepEqual(await modelIds(gw, auth), ["demo"]);
      // Editors often write a new file and rename it over the old one.
      await Deno.writeTextFile(
        `${path}.tmp`,
        JSON.stringify({
          auth: { api_keys: ["file-key-2"] },
          providers: [{ id: "demo", type: "echo", models: ["demo", "renamed-model"] }],
        }),
      );
      await Deno.rename(`${path}.tmp`, path);
      const deadline = Date.now() + 5000;
      let ids = await modelIds(gw, auth);
      while (!ids.includes("renamed-model") && Date.now() < deadline) {
        await sleep(100);
        ids = await modelIds(gw, auth);
      }
      assert.ok(ids.includes("renamed-model"), `picked up:\n${gw.lines.join("\n")}`);
      // PROXY_API_KEYS still replaces the file's keys after the reload.
      const fileKey = await get(`${gw.url}/v1/models`, { authorization: "Bearer file-key-2" });
      assert.equal(fileKey.status, 401, fileKey.text);
      assert.equal((await get(`${gw.url}/v1/models`)).status, 401);
    } finally {
      await gw.stop();
    }
  });
});

Deno.test({
  name:
    "hot reload keeps the exposure guard: an edit that drops every client key on HOST=0.0.0.0 is rejected",
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/exposed.json`;
      await Deno.writeTextFile(
        path,
        JSON.stringify({ ...ECHO_CONFIG, auth: { api_keys: ["file-key-1"] } }),
      );
      const gw = await startGatewayProcess({
        args: ["--config", path],
        env: { HOST: "0.0.0.0", KV_PATH: `${dir}/kv.sqlite3` },
      });
      try {
        assert.equal((await get(`${gw.url}/v1/models`)).status, 401);
        await Deno.writeTextFile(path, JSON.stringify(ECHO_CONFIG));
        await gw.waitForLine(/config (reloaded|edit rejected)/, 5000);
        const rejected = gw.lines.find((l) => /config edit rejected/.test(l)) ?? "";
        assert.match(rejected, /ALLOW_OPEN/, gw.lines.join("\n"));
        assert.equal((await get(`${gw.url}/v1/models`)).status, 401, "still needs a key");
      } finally {
        await gw.stop();
      }
    });
  },
});
