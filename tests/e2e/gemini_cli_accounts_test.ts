import assert from "node:assert/strict";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { runDoctor } from "../../src/cli/doctor.ts";
import { type FakeCodeAssist, startFakeCodeAssist } from "../fakes/code_assist_upstream.ts";
import { type FakeGoogleOAuth, startFakeGoogleOAuth } from "../fakes/google_oauth_server.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * Gemini CLI accounts end to end: seeded through the admin API, used by the official SDKs,
 * refreshed before expiry and after a 401, marked when revoked, kept across restarts.
 */

const ADMIN = "admin-token-gcli-tests";
const CLIENT = "sk-client-gcli-tests";

interface Fx {
  oauth: FakeGoogleOAuth;
  ca: FakeCodeAssist;
  config: Record<string, unknown>;
  close(): Promise<void>;
}

async function fakes(options: { onboarded?: boolean } = {}): Promise<Fx> {
  // Tokens Google issues become valid at Code Assist, as with the real services.
  const holder: { ca?: FakeCodeAssist } = {};
  const oauth = await startFakeGoogleOAuth({
    refreshTokens: ["1//rt-a", "1//rt-b"],
    onIssue: (t) => holder.ca?.validTokens.add(t),
  });
  const ca = await startFakeCodeAssist({
    validTokens: ["ya29.seeded-valid"],
    onboarded: options.onboarded ?? false,
  });
  holder.ca = ca;
  const config = {
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "gcli",
      type: "gemini-cli",
      base_url: ca.url,
      token_url: oauth.tokenUrl,
      models: ["gemini-2.5-pro*"],
    }],
  };
  return {
    oauth,
    ca,
    config,
    async close() {
      await ca.close();
      await oauth.close();
    },
  };
}

function creds(refresh: string, access: string, expiresInMs: number): Record<string, unknown> {
  return {
    access_token: access,
    refresh_token: refresh,
    scope: "https://www.googleapis.com/auth/cloud-platform",
    token_type: "Bearer",
    id_token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    expiry_date: Date.now() + expiresInMs,
  };
}

async function seed(gw: TestGateway, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${gw.url}/admin/credentials/gcli`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()).id;
}

async function listAccounts(gw: TestGateway): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${gw.url}/admin/credentials`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return (await res.json()).accounts;
}

function openai(gw: TestGateway): OpenAI {
  return new OpenAI({ apiKey: CLIENT, baseURL: `${gw.url}/v1`, maxRetries: 0 });
}

Deno.test("gemini-cli: seed, onboard once, chat and stream with the OpenAI and Gemini SDKs", async () => {
  const fx = await fakes({ onboarded: false });
  const gw = await startTestGateway(fx.config);
  try {
    const id = await seed(gw, {
      ...creds("1//rt-a", "ya29.seeded-valid", 3600_000),
      label: "work",
    });
    const client = openai(gw);
    const res = await client.chat.completions.create({
      model: "gemini-2.5-pro",
      messages: [{ role: "user", content: "hello code assist" }],
    });
    assert.match(res.choices[0].message.content ?? "", /hello code assist/);

    const stream = await client.chat.completions.create({
      model: "gemini-2.5-pro",
      messages: [{ role: "user", content: "stream it" }],
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    assert.match(text, /stream it/);

    const ai = new GoogleGenAI({ apiKey: CLIENT, httpOptions: { baseUrl: gw.url } });
    let gtext = "";
    for await (
      const c of await ai.models.generateContentStream({
        model: "gemini-2.5-pro",
        contents: "via genai",
      })
    ) gtext += c.text ?? "";
    assert.match(gtext, /via genai/);

    assert.equal(fx.ca.onboardCalls, 1, "onboarding ran once for the account");
    assert.equal(fx.oauth.refreshCalls, 0, "a fresh token needs no refresh");
    const [acct] = await listAccounts(gw);
    assert.equal(acct.id, id);
    assert.equal(acct.label, "work");
    assert.ok(acct.project_id, "the discovered project is stored");
    const shown = JSON.stringify(acct);
    assert.ok(!shown.includes("1//rt-a") && !shown.includes("ya29.seeded-valid"), "masked");
  } finally {
    await gw.close();
    await fx.close();
  }
});

Deno.test("gemini-cli: a token near expiry is refreshed once for 10 concurrent requests", async () => {
  const fx = await fakes({ onboarded: true });
  const gw = await startTestGateway(fx.config);
  try {
    await seed(gw, creds("1//rt-a", "ya29.seeded-valid", 60_000));
    fx.oauth.setDelay(50);
    const client = openai(gw);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.chat.completions.create({
          model: "gemini-2.5-pro",
          messages: [{ role: "user", content: `q${i}` }],
        })),
    );
    assert.equal(answers.length, 10);
    assert.equal(fx.oauth.refreshCalls, 1);
    const used = new Set(
      fx.ca.requests.filter((r) => r.path.includes("generateContent"))
        .map((r) => r.headers.get("authorization")),
    );
    assert.deepEqual([...used], [`Bearer ${fx.oauth.issued[0]}`]);
  } finally {
    await gw.close();
    await fx.close();
  }
});

Deno.test("gemini-cli: a 401 refreshes once and retries; a revoked account is marked and skipped", async () => {
  const fx = await fakes({ onboarded: true });
  const gw = await startTestGateway(fx.config);
  try {
    // Valid-looking expiry, but Google no longer accepts the access token.
    const a = await seed(gw, creds("1//rt-a", "ya29.stale-token", 3600_000));
    const res = await openai(gw).chat.completions.create({
      model: "gemini-2.5-pro",
      messages: [{ role: "user", content: "after 401" }],
    });
    assert.match(res.choices[0].message.content ?? "", /after 401/);
    assert.equal(fx.oauth.refreshCalls, 1);

    // Revoke account a at Google, expire its token; a second account takes over.
    fx.oauth.revoke("1//rt-a");
    const patch = await fetch(`${gw.url}/admin/credentials/gcli/${a}/refresh`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(patch.status, 502);
    const body = await patch.json();
    assert.equal(body.refreshed, false);
    assert.equal(body.account.status, "refresh failed");
    assert.match(body.account.last_error, /expired or revoked/);

    await seed(gw, creds("1//rt-b", "ya29.seeded-valid", 3600_000));
    const again = await openai(gw).chat.completions.create({
      model: "gemini-2.5-pro",
      messages: [{ role: "user", content: "still served" }],
    });
    assert.match(again.choices[0].message.content ?? "", /still served/);
    const accounts = await listAccounts(gw);
    assert.equal(accounts.length, 2, "the failed account is kept, not deleted");
    assert.equal(accounts.find((x) => x.id === a)?.status, "refresh failed");
  } finally {
    await gw.close();
    await fx.close();
  }
});

Deno.test("gemini-cli: accounts survive a restart; the cron job refreshes what is due", async () => {
  const fx = await fakes({ onboarded: true });
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  try {
    const gw1 = await startTestGateway(fx.config, {
      kvPath,
      encryptionKey: "test-encryption-key-1",
    });
    await seed(gw1, creds("1//rt-a", "ya29.seeded-valid", 2 * 3600_000));
    await seed(gw1, creds("1//rt-b", "ya29.seeded-valid", 9 * 3600_000));
    await gw1.close();

    const gw2 = await startTestGateway(fx.config, {
      kvPath,
      encryptionKey: "test-encryption-key-1",
    });
    try {
      assert.equal((await listAccounts(gw2)).length, 2);
      const results = await gw2.refreshJob() as Array<{ result: string; detail?: string }>;
      assert.deepEqual(results.map((r) => r.result).sort(), ["refreshed", "skipped"]);
      assert.equal(fx.oauth.refreshCalls, 1);
      const res = await openai(gw2).chat.completions.create({
        model: "gemini-2.5-pro",
        messages: [{ role: "user", content: "after restart" }],
      });
      assert.match(res.choices[0].message.content ?? "", /after restart/);
    } finally {
      await gw2.close();
    }

    // The records on disk hold no token in clear.
    const kv = await Deno.openKv(kvPath);
    try {
      for await (const e of kv.list({ prefix: ["accounts"] })) {
        const text = JSON.stringify(e.value);
        assert.ok(!text.includes("1//rt-") && !text.includes("ya29."), "sealed at rest");
      }
    } finally {
      kv.close();
    }
  } finally {
    await fx.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gemini-cli: a malformed credential file gets a clear 400", async () => {
  const fx = await fakes();
  const gw = await startTestGateway(fx.config);
  try {
    const res = await fetch(`${gw.url}/admin/credentials/gcli`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ access_token: "ya29.only-access" }),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error.message, /refresh_token/);
  } finally {
    await gw.close();
    await fx.close();
  }
});

Deno.test("gemini-cli: an individual-tier account is marked unsupported (setup or mid-request) and the doctor names why", async () => {
  const fx = await fakes({ onboarded: true });
  const gw = await startTestGateway(fx.config);
  try {
    for (const t of ["ya29.individual-1", "ya29.individual-2", "ya29.paid"]) {
      fx.ca.validTokens.add(t);
    }
    fx.ca.individualTokens.add("ya29.individual-1");
    fx.ca.individualTokens.add("ya29.individual-2");
    // One refused at project discovery, one (with a project of its own) at generation.
    const atSetup = await seed(gw, creds("1//rt-a", "ya29.individual-1", 3600_000));
    const atCall = await seed(gw, {
      ...creds("1//rt-b", "ya29.individual-2", 3600_000),
      project_id: "my-own-project",
    });
    const paid = await seed(gw, creds("1//rt-c", "ya29.paid", 3600_000));

    const client = openai(gw);
    for (let i = 0; i < 4; i++) {
      const res = await client.chat.completions.create({
        model: "gemini-2.5-pro",
        messages: [{ role: "user", content: `paid ${i}` }],
      });
      assert.match(res.choices[0].message.content ?? "", /paid/);
    }
    const list = await listAccounts(gw);
    for (const id of [atSetup, atCall]) {
      const a = list.find((x) => x.id === id)!;
      assert.equal(a.status, "unsupported", id);
      assert.match(String(a.last_error), /2026-06-18/);
      assert.match(String(a.last_error), /Standard and Enterprise/);
      assert.ok(String(a.last_error).includes("no longer supported for Gemini Code Assist"));
    }
    assert.equal(list.find((x) => x.id === paid)!.status, "active");
    const before = fx.ca.requests.length;
    await client.chat.completions.create({
      model: "gemini-2.5-pro",
      messages: [{ role: "user", content: "again" }],
    });
    assert.equal(fx.ca.requests.length, before + 1, "marked accounts are not tried again");

    const rows = await runDoctor({
      url: gw.url,
      key: CLIENT,
      adminToken: ADMIN,
      probe: false,
      timeoutMs: 5000,
    });
    const row = rows.find((r) => r.check.includes(atSetup))!;
    assert.equal(row.status, "fail");
    assert.match(row.detail, /^unsupported: Google stopped serving Gemini CLI/);
  } finally {
    await gw.close();
    await fx.close();
  }
});
