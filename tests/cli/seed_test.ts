import assert from "node:assert/strict";
import { parseSeedArgs } from "../../src/cli/seed.ts";
import { startTestGateway } from "../e2e/start_gateway.ts";

Deno.test("seed: argument parsing", () => {
  assert.match(String(parseSeedArgs([], {})), /usage/);
  assert.match(String(parseSeedArgs(["--provider", "oa", "f.json"], {})), /ADMIN_TOKEN/);
  assert.deepEqual(
    parseSeedArgs(["--provider=oa", "f.json", "--url", "http://h:1/", "--label", "L"], {
      ADMIN_TOKEN: "t",
    }),
    { provider: "oa", file: "f.json", token: "t", url: "http://h:1", label: "L" },
  );
});

Deno.test("deno task seed posts a credential file to the admin API", async () => {
  const gw = await startTestGateway({
    auth: { admin_token: "seed-admin-token" },
    providers: [{ id: "oa", type: "openai", base_url: "http://127.0.0.1:9/v1", models: ["m"] }],
  });
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/key.json`;
    await Deno.writeTextFile(file, JSON.stringify({ api_key: "sk-seeded-key-123456" }));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "seed", "--provider", "oa", file, "--url", gw.url, "--label", "cli"],
      env: { ADMIN_TOKEN: "seed-admin-token" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(JSON.parse(text).label, "cli");
    const list = await (await fetch(`${gw.url}/admin/credentials`, {
      headers: { authorization: "Bearer seed-admin-token" },
    })).json();
    assert.equal(list.accounts.length, 1);
    assert.equal(list.accounts[0].secret, "sk-se****3456");
  } finally {
    await gw.close();
    await Deno.remove(dir, { recursive: true });
  }
});
