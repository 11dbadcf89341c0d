import assert from "node:assert/strict";
import { awsProfile, parseSeedArgs, seedCredential } from "../../src/cli/seed.ts";
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

Deno.test("seed: AWS credentials files and Azure app registrations reach the cloud providers", async () => {
  const gw = await startTestGateway({
    auth: { admin_token: "seed-admin-token" },
    providers: [
      { id: "br", type: "bedrock", models: ["anthropic.claude-*"] },
      { id: "az", type: "azure-openai", base_url: "https://res.openai.azure.com", models: ["g"] },
    ],
  });
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}/credentials`;
    await Deno.writeTextFile(
      ini,
      [
        "[default]",
        "aws_access_key_id = AKIADEFAULT000000001",
        "aws_secret_access_key = defaultSecretKey/0000000000000000000000",
        "",
        "[work]",
        "aws_access_key_id=AKIAWORK000000000002",
        "aws_secret_access_key=workSecretKey/00000000000000000000000000",
        "aws_session_token=FwoGZXIvYXdzEXAMPLE",
      ].join("\n"),
    );
    assert.deepEqual(awsProfile(await Deno.readTextFile(ini), "work"), {
      access_key_id: "AKIAWORK000000000002",
      secret_access_key: "workSecretKey/00000000000000000000000000",
      session_token: "FwoGZXIvYXdzEXAMPLE",
    });
    assert.equal(awsProfile("[other]\naws_access_key_id=x", "default"), undefined);
    const base = { url: gw.url, token: "seed-admin-token" };
    const aws = await seedCredential({ ...base, provider: "br", file: ini, profile: "work" });
    assert.ok(aws.ok, aws.text);
    const missing = await seedCredential({ ...base, provider: "br", file: ini, profile: "nope" });
    assert.equal(missing.ok, false);
    assert.match(missing.text, /profile \[nope\]/);

    const app = `${dir}/sp.json`;
    await Deno.writeTextFile(
      app,
      JSON.stringify({
        appId: "00000000-0000-4000-8000-000000000001",
        displayName: "llm-proxy",
        password: "azure~secret.value",
        tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      }),
    );
    const az = await seedCredential({ ...base, provider: "az", file: app, label: "sp" });
    assert.ok(az.ok, az.text);
    const list = (await (await fetch(`${gw.url}/admin/credentials`, {
      headers: { authorization: "Bearer seed-admin-token" },
    })).json()).accounts as { provider: string; kind: string }[];
    assert.deepEqual(list.map((a) => `${a.provider}:${a.kind}`).sort(), [
      "az:entra_client",
      "br:aws_access_key",
    ]);
  } finally {
    await gw.close();
    await Deno.remove(dir, { recursive: true });
  }
});
