import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startTestGateway } from "./start_gateway.ts";
import { ADMIN, ask, keysConfig } from "./client_keys_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const present = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

async function until(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 80; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("condition not met within 8 s");
}

Deno.test({
  name: "dashboard keys page in Chromium: create (secret once), usage, disable, rotate, revoke",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gw = await startTestGateway(keysConfig());
    const dir = await Deno.makeTempDir({ prefix: "llm-proxy-chromium-" });
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const page = context.pages()[0] ?? await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(err.message));
      page.on("dialog", (d) => void d.accept());
      await page.goto(gw.url + "/");
      await page.fill("#token", ADMIN);
      await page.click("#token-form button[type=submit]");
      await page.waitForSelector("#board:not([hidden])", { timeout: 5000 });

      await page.fill("#key-label", "intern");
      await page.fill("#key-models", "demo");
      await page.fill("#key-rpm", "30");
      await page.click("#key-form button[type=submit]");
      await page.waitForSelector("#new-key:not([hidden])", { timeout: 5000 });
      const secret = (await page.textContent("#new-key-secret")) ?? "";
      assert.match(secret, /^sk-lp-/);
      const row = "#keys tbody tr";
      await page.waitForSelector(row, { timeout: 5000 });
      const id = await page.getAttribute(row, "data-key");
      assert.ok(id);
      // The table shows only the hint.
      assert.ok(!((await page.textContent("#keys")) ?? "").includes(secret.slice(6, -4)));

      // rpm counts a UTC calendar minute: requests and the reading must fall in the same one.
      while (Date.now() % 60_000 > 45_000) await new Promise((r) => setTimeout(r, 250));
      for (let i = 0; i < 2; i++) {
        const res = await ask(gw.url, "chat", secret);
        assert.equal(res.status, 200);
        await res.text();
      }
      await until(async () => /2 req/.test((await page.textContent(row)) ?? ""));
      assert.match((await page.textContent(row)) ?? "", /rpm 2\/30/);
      await until(async () => /intern/.test((await page.textContent("#requests tbody")) ?? ""));

      await page.click(`${row} button:has-text("Disable")`);
      await until(async () => /disabled/.test((await page.textContent(row)) ?? ""));
      assert.equal((await ask(gw.url, "chat", secret)).status, 401);
      await page.click(`${row} button:has-text("Enable")`);
      await until(async () => /active/.test((await page.textContent(row)) ?? ""));

      await page.click(`${row} button:has-text("Rotate")`);
      await until(async () => (await page.textContent("#new-key-secret")) !== secret);
      const rotated = (await page.textContent("#new-key-secret")) ?? "";
      assert.equal((await ask(gw.url, "chat", secret)).status, 401);
      const res = await ask(gw.url, "chat", rotated);
      assert.equal(res.status, 200);
      await res.text();

      await page.click(`${row} button:has-text("Revoke")`);
      await until(async () => (await page.$(`tr[data-key="${id}"]`)) === null);
      assert.equal((await ask(gw.url, "chat", rotated)).status, 401);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await gw.close();
    }
  },
});
