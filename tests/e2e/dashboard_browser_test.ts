import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { openAIError, startScriptedOpenAI } from "../fakes/scripted_openai.ts";
import { startTestGateway } from "./start_gateway.ts";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "admin-browser-token";
const CLIENT = "sk-client-browser";
const ARTIFACTS = new URL("../artifacts/", import.meta.url);

function chromiumPresent(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const present = chromiumPresent();
if (!present) {
  console.warn(
    `dashboard browser test skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does this)`,
  );
}

/** Polls a condition every 100 ms for at most 8 s. */
async function waitFor(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 80; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("condition not met within 8 s");
}

/** A phone-sized headless Chromium with a throwaway profile. */
async function launchBrowser(): Promise<{
  context: Awaited<ReturnType<typeof chromium.launchPersistentContext>>;
  close(): Promise<void>;
}> {
  const userDataDir = await Deno.makeTempDir({ prefix: "llm-proxy-chromium-" });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 390, height: 844 },
  });
  return {
    context,
    async close() {
      await context.close();
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test({
  name: "dashboard in Chromium: token once, live numbers, disable an account, phone-sized",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const upstream = await startFakeOpenAI();
    const gw = await startTestGateway({
      auth: { api_keys: [CLIENT], admin_token: ADMIN },
      providers: [{
        id: "oai",
        type: "openai",
        base_url: `${upstream.url}/v1`,
        models: ["fake-gpt"],
      }],
    });
    const adminHeaders = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
    const added = await fetch(`${gw.url}/admin/credentials/oai`, {
      method: "POST",
      headers: adminHeaders,
      body: JSON.stringify({ api_key: "sk-up-browser-abcdef123456", label: "browser key" }),
    });
    assert.equal(added.status, 201);
    const account = (await added.json()) as { id: string };

    const browser = await launchBrowser();
    const context = browser.context;
    try {
      const page = context.pages()[0] ?? await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(err.message));
      page.on("console", (msg) => {
        if (msg.type() === "error") problems.push(msg.text());
      });
      await page.goto(gw.url + "/");
      // Nothing is shown before the token is given.
      assert.equal(await page.isVisible("#board"), false);
      await page.fill("#token", ADMIN);
      await page.click("#token-form button[type=submit]");
      await page.waitForSelector(`tr[data-account="oai/${account.id}"]`, { timeout: 5000 });
      const before = Number(await page.textContent("#total-requests"));
      assert.equal(await page.isVisible("#token-form"), false, "the token is asked once");

      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
      // The page polls on its own: the total changes without a reload.
      await waitFor(async () => Number(await page.textContent("#total-requests")) === before + 3);
      await page.waitForSelector("#requests tbody tr", { timeout: 5000 });
      assert.match((await page.textContent("#requests tbody")) ?? "", /fake-gpt/);
      assert.match((await page.textContent("#providers tbody")) ?? "", /oai\s*3/);
      assert.match((await page.textContent("#snippets")) ?? "", /ANTHROPIC_BASE_URL=http:\/\/127/);

      // The token stays for the tab: a reload goes straight to the board.
      await page.reload();
      await page.waitForSelector("#board:not([hidden])", { timeout: 5000 });

      const row = `tr[data-account="oai/${account.id}"]`;
      await page.waitForSelector(`${row} button:has-text("Disable")`, { timeout: 5000 });
      await page.click(`${row} button:has-text("Disable")`);
      await page.waitForSelector(`${row} button:has-text("Enable")`, { timeout: 5000 });
      assert.match((await page.textContent(row)) ?? "", /disabled/);
      const list = await (await fetch(`${gw.url}/admin/credentials`, { headers: adminHeaders }))
        .json() as { accounts: { id: string; enabled: boolean }[] };
      assert.equal(list.accounts.find((a) => a.id === account.id)?.enabled, false);

      // On a phone-wide screen the page itself does not scroll sideways (tables do, inside).
      const overflow = await page.evaluate(() => {
        // This file is type-checked without the DOM lib; the page's strict CSP forbids eval.
        const root = (globalThis as unknown as {
          document: { documentElement: { scrollWidth: number; clientWidth: number } };
        }).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      assert.ok(overflow <= 1, `page is ${overflow}px wider than the phone screen`);
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: new URL("dashboard.png", ARTIFACTS).pathname, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await gw.close();
      await upstream.close();
    }
  },
});

Deno.test({
  name: "dashboard in Chromium: an ejected key shows until when and why, and Reset ends it",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const upstream = startScriptedOpenAI(({ key }) =>
      key === "sk-up-bad" ? openAIError(503, "overloaded") : undefined
    );
    const gw = await startTestGateway({
      auth: { api_keys: [CLIENT], admin_token: ADMIN },
      providers: [{
        id: "oai",
        type: "openai",
        base_url: upstream.url,
        api_keys: ["sk-up-bad", "sk-up-good"],
        models: ["fake-gpt"],
        strategy: "fill-first",
      }],
      failure_policy: { consecutive_failures: 1 },
    });
    const browser = await launchBrowser();
    try {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200, "served by the good key");
      await res.text();
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      await page.goto(gw.url + "/");
      await page.fill("#token", ADMIN);
      await page.click("#token-form button[type=submit]");
      const row = `#accounts tr:has-text("config key")`;
      await page.waitForSelector(row, { timeout: 5000 });
      const text = (await page.textContent(row)) ?? "";
      assert.match(text, /ejected until/);
      assert.match(text, /1 server-side failures in a row, last 502/);
      await page.click(`${row} button:has-text("Reset")`);
      await page.waitForSelector(row, { state: "detached", timeout: 5000 });
      const stats = await (await fetch(`${gw.url}/admin/stats`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })).json();
      assert.deepEqual(stats.cooldowns, []);
    } finally {
      await browser.close();
      await gw.close();
      await upstream.close();
    }
  },
});
