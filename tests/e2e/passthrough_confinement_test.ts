/**
 * Relayed content kept off the gateway's origin (issue 19, items 2 and 3): sandbox headers on
 * every relayed answer, redirects refused rather than handed back, loopback presets opt-in,
 * and in Chromium a relayed page cannot read the dashboard's admin token or set a cookie.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startEchoServer } from "../fakes/echo_server.ts";
import { startTestGateway } from "./start_gateway.ts";

const CHROMIUM = "/usr/bin/chromium";
const KEY = "sk-gateway-confine-41d2";
const ADMIN = "admin-confine-token-7f3e9a";
const TOKEN_SLOT = "llm-proxy-admin-token"; // the dashboard's sessionStorage key

/** An upstream serving a hostile HTML page that also sends its own, permissive headers. */
function startHostileUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const page = `<!doctype html><title>relayed</title><script>
    document.title = "ran:" + sessionStorage.getItem(${JSON.stringify(TOKEN_SLOT)});
    document.cookie = "pwned=1; path=/";
  </script>`;
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) =>
        resolve({ url: `http://127.0.0.1:${port}`, close: () => server.shutdown() }),
    }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/moved") {
        return new Response(null, {
          status: 302,
          headers: { location: "https://phish.example/login" },
        });
      }
      if (path === "/control") {
        return new Response(page, { headers: { "content-type": "text/html" } });
      }
      return new Response(page, {
        headers: {
          // No content type on /sniff: a browser would sniff it as HTML without nosniff.
          ...(path === "/sniff" ? {} : { "content-type": "text/html" }),
          "content-security-policy": "default-src * 'unsafe-inline'",
          "x-content-type-options": "whatever",
          refresh: "0; url=https://phish.example/",
        },
      });
    });
  });
}

async function withGateway(
  passthrough: Record<string, unknown>,
  fn: (gwUrl: string, upstreamUrl: string) => Promise<void>,
): Promise<void> {
  const upstream = await startHostileUpstream();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY], admin_token: ADMIN },
    providers: [{ id: "demo", type: "echo", models: ["demo"] }],
    passthrough: { presets: { evil: { targets: [upstream.url] } }, ...passthrough },
  });
  try {
    await fn(gw.url, upstream.url);
  } finally {
    await gw.close();
    await upstream.close();
  }
}

Deno.test("relayed answers: sandbox and nosniff override the upstream's headers; Refresh dropped", async () => {
  await withGateway({ allow_private: true }, async (gw, upstream) => {
    const paths = [
      `/${KEY}/evil/page`,
      `/${KEY}/evil/sniff`,
      `/${KEY}/http/${upstream.slice(7)}/x`,
    ];
    for (const path of paths) {
      const res = await fetch(gw + path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-security-policy"), "sandbox", path);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(res.headers.get("refresh"), null, path);
      await res.body?.cancel();
    }
    // The relay's own errors carry them too.
    const err = await fetch(`${gw}/${KEY}/http/unresolvable.invalid/x`);
    assert.equal(err.headers.get("content-security-policy"), "sandbox");
    await err.body?.cancel();
  });
});

Deno.test("relayed redirects: refused with a 502 naming the target, never an open redirect", async () => {
  await withGateway({}, async (gw) => {
    const res = await fetch(`${gw}/${KEY}/evil/moved`, { redirect: "manual" });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("location"), null);
    const body = await res.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, "upstream_redirect");
    assert.match(body.error.message, /https:\/\/phish\.example\/login/);
  });
});

Deno.test("loopback presets are opt-in: ollama refused by default, enabled by local_presets", async () => {
  const echo = await startEchoServer();
  try {
    // Not enabled: refused before any connection, on the preset path and via supplier routing.
    await withGateway({}, async (gw) => {
      for (
        const [path, init] of [
          [`/${KEY}/ollama/api/tags`, {}],
          [`/${KEY}/v2/ollama/chat/completions`, { method: "POST", body: "{}" }],
          [`/${KEY}/v1/chat/completions`, {
            method: "POST",
            body: "{}",
            headers: { supplier: "ollama" },
          }],
        ] as const
      ) {
        const res = await fetch(gw + path, init);
        assert.equal(res.status, 403, path);
        const body = await res.json() as { error: { code: string; message: string } };
        assert.equal(body.error.code, "preset_not_enabled");
        assert.match(body.error.message, /passthrough\.local_presets/);
      }
    });
    // Enabled by name: it is tried (nothing listens on 11434 here, or a real Ollama answers).
    await withGateway({ local_presets: ["ollama"] }, async (gw) => {
      const res = await fetch(`${gw}/${KEY}/ollama/api/tags`);
      assert.notEqual(res.status, 403);
      await res.body?.cancel();
    });
    // ollama_url chosen by the operator is its own opt-in.
    await withGateway({ ollama_url: echo.url }, async (gw) => {
      const res = await fetch(`${gw}/${KEY}/ollama/api/tags`);
      assert.equal(res.status, 200);
      assert.equal((await res.json() as { path: string }).path, "/api/tags");
    });
  } finally {
    await echo.close();
  }
});

function chromiumPresent(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "in Chromium: a relayed page cannot read the admin token or set a cookie on the gateway",
  ignore: !chromiumPresent(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withGateway({}, async (gw, upstream) => {
      const userDataDir = await Deno.makeTempDir({ prefix: "llm-proxy-chromium-" });
      const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
      });
      try {
        const page = context.pages()[0] ?? await context.newPage();
        // The harness works: served directly (no sandbox), the page's script runs.
        await page.goto(`${upstream}/control`);
        assert.equal(await page.title(), "ran:null");
        // ...and sets its cookie (cookies ignore ports: the gateway's host has it now too).
        assert.equal((await context.cookies(upstream)).some((c) => c.name === "pwned"), true);
        await context.clearCookies();
        // The dashboard's tab holds the admin token in its session storage.
        await page.goto(`${gw}/`);
        await page.evaluate(
          ([slot, token]) =>
            (globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } })
              .sessionStorage.setItem(slot, token),
          [TOKEN_SLOT, ADMIN],
        );
        for (const path of [`/${KEY}/evil/page`, `/${KEY}/evil/sniff`]) {
          await page.goto(gw + path);
          const title = await page.title();
          assert.ok(!title.includes(ADMIN), `${path}: the relayed page read the token`);
          assert.ok(!title.startsWith("ran:"), `${path}: the relayed script ran`);
        }
        const cookies = await context.cookies(gw);
        assert.deepEqual(cookies.filter((c) => c.name === "pwned"), []);
        // The token is still there for the dashboard itself.
        await page.goto(`${gw}/`);
        const kept = await page.evaluate(
          (slot) =>
            (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } })
              .sessionStorage.getItem(slot),
          TOKEN_SLOT,
        );
        assert.equal(kept, ADMIN);
      } finally {
        await context.close();
        await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
      }
    });
  },
});
