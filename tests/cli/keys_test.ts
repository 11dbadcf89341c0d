import assert from "node:assert/strict";
import { parseKeysArgs } from "../../src/cli/keys.ts";
import { startTestGateway } from "../e2e/start_gateway.ts";

Deno.test("keys: argument parsing", () => {
  assert.match(String(parseKeysArgs([], { ADMIN_TOKEN: "t" })), /usage/);
  assert.match(String(parseKeysArgs(["list"], {})), /ADMIN_TOKEN/);
  assert.match(String(parseKeysArgs(["revoke"], { ADMIN_TOKEN: "t" })), /usage/);
  assert.deepEqual(
    parseKeysArgs(
      ["create", "--label", "intern", "--models", "a, b*", "--rpm=10", "--budget-tokens", "5"],
      { ADMIN_TOKEN: "t", LLM_PROXY_URL: "http://h:1/" },
    ),
    {
      url: "http://h:1",
      token: "t",
      method: "POST",
      path: "/admin/keys",
      body: {
        label: "intern",
        models: ["a", "b*"],
        rpm: 10,
        budget: { period: "month", tokens: 5, cost: undefined },
      },
    },
  );
  assert.deepEqual(parseKeysArgs(["rotate", "ck_1", "--grace", "60", "--token", "x"], {}), {
    url: "http://127.0.0.1:8000",
    token: "x",
    method: "POST",
    path: "/admin/keys/ck_1/rotate",
    body: { grace_seconds: 60 },
  });
});

async function task(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "keys", ...args],
    env: { ADMIN_TOKEN: "keys-admin-token" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, out: d.decode(out.stdout), err: d.decode(out.stderr) };
}

Deno.test("deno task keys creates, lists and revokes through the admin API", async () => {
  const gw = await startTestGateway({
    auth: { admin_token: "keys-admin-token" },
    providers: [{ id: "demo", type: "echo", models: ["demo"] }],
  });
  try {
    const created = await task(["create", "--label", "cli-key", "--rpm", "5", "--url", gw.url]);
    assert.equal(created.code, 0, created.err);
    const rec = JSON.parse(created.out);
    assert.match(rec.key, /^sk-lp-/);
    assert.equal(rec.rpm, 5);
    const list = await task(["list", "--url", gw.url]);
    assert.equal(list.code, 0);
    assert.equal(JSON.parse(list.out).keys[0].label, "cli-key");
    assert.ok(!list.out.includes(rec.key));
    const revoked = await task(["revoke", rec.id, "--url", gw.url]);
    assert.equal(revoked.code, 0, revoked.err);
    const again = await task(["revoke", rec.id, "--url", gw.url]);
    assert.equal(again.code, 1);
    assert.match(again.err, /key_not_found/);
  } finally {
    await gw.close();
  }
});
