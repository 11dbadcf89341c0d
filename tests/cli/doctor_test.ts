import assert from "node:assert/strict";
import { formatTable, parseDoctorArgs, runDoctor } from "../../src/cli/doctor.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "../e2e/start_gateway.ts";

const KEY = "sk-client-doctor-1";
const ADMIN = "admin-doctor-token";

Deno.test("doctor: a healthy gateway passes every check, probing each provider", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY], admin_token: ADMIN },
    providers: [
      { id: "demo", type: "echo", models: ["demo"] },
      { id: "oa", type: "openai", base_url: `${up.url}/v1`, models: ["fake-gpt"] },
    ],
  });
  try {
    const seeded = await fetch(`${gw.url}/admin/credentials/oa`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ api_key: "sk-upstream-ok", label: "main" }),
    });
    assert.equal(seeded.status, 201, await seeded.text());
    const rows = await runDoctor({
      url: gw.url,
      key: KEY,
      adminToken: ADMIN,
      probe: true,
      timeoutMs: 5000,
    });
    const byCheck = Object.fromEntries(rows.map((r) => [r.check, r]));
    assert.deepEqual(rows.filter((r) => r.status !== "ok"), [], formatTable(rows));
    for (
      const c of [
        "health",
        "client auth",
        "open access",
        "admin auth",
        "provider demo",
        "provider oa",
      ]
    ) {
      assert.ok(byCheck[c], `missing ${c}`);
    }
    assert.match(byCheck["provider oa"].detail, /fake-gpt answered/);
    assert.ok(rows.some((r) => r.check.startsWith("account oa/") && r.detail.includes("active")));
    assert.ok(up.requests.length >= 1, "the probe reached the upstream");
    assert.ok(!formatTable(rows).includes("sk-upstream-ok"));
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("doctor: bad key, unreachable provider and a provider without credentials fail; exit 1", async () => {
  const gw = await startTestGateway({
    auth: { api_keys: [KEY], admin_token: ADMIN },
    providers: [
      {
        id: "down",
        type: "openai",
        base_url: "http://127.0.0.1:9/v1",
        api_keys: ["sk-x-12345678"],
        models: ["gone"],
      },
      { id: "gcli", type: "gemini-cli", models: ["gemini-2.5-pro"] },
    ],
  });
  try {
    const rows = await runDoctor({
      url: gw.url,
      key: KEY,
      adminToken: ADMIN,
      probe: true,
      timeoutMs: 5000,
    });
    const status = Object.fromEntries(rows.map((r) => [r.check, r.status]));
    assert.equal(status["client auth"], "ok");
    assert.equal(status["provider down"], "fail");
    assert.match(rows.find((r) => r.check === "provider down")?.detail ?? "", /gone: HTTP 50\d/);
    const wrongKey = await runDoctor({
      url: gw.url,
      key: "sk-wrong",
      probe: false,
      timeoutMs: 5000,
    });
    assert.equal(wrongKey.find((r) => r.check === "client auth")?.status, "fail");
    assert.equal(wrongKey.find((r) => r.check === "admin auth")?.status, "skip");
    assert.equal(status["provider gcli"], "fail");
    assert.equal(status["admin auth"], "ok");

    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "src/cli/doctor.ts",
        "--url",
        gw.url,
        "--key",
        KEY,
      ],
      env: { ADMIN_TOKEN: ADMIN },
      stdout: "piped",
      stderr: "piped",
    });
    const out = await cmd.output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 1, text);
    assert.match(text, /^CHECK\s+STATUS\s+DETAIL/);
    assert.match(text, /provider gcli\s+FAIL/);
  } finally {
    await gw.close();
  }
});

Deno.test("doctor: nothing listening is one failed health row", async () => {
  const rows = await runDoctor({ url: "http://127.0.0.1:9", probe: false, timeoutMs: 2000 });
  assert.equal(rows.length, 1);
  assert.equal(rows[0].status, "fail");
});

Deno.test("parseDoctorArgs: flags win over env; bad input is refused", () => {
  const o = parseDoctorArgs(["--url=http://x:1", "--probe"], {
    PROXY_API_KEYS: " k1 ,k2",
    ADMIN_TOKEN: "t",
  });
  assert.deepEqual(o, {
    url: "http://x:1",
    key: "k1",
    adminToken: "t",
    probe: true,
    timeoutMs: 15000,
  });
  assert.equal(parseDoctorArgs([], { PORT: "9000" }).url, "http://127.0.0.1:9000");
  assert.throws(() => parseDoctorArgs(["stray"], {}), /unknown argument/);
  assert.throws(() => parseDoctorArgs(["--timeout", "x"], {}), /timeout/);
});
