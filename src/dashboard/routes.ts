import type { Hono } from "hono";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "./page.ts";
import { DASHBOARD_JS } from "./script.ts";

// Nothing but the gateway's own files; data only through fetch to the same origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const COMMON = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** Mounts the dashboard page and its two assets. The page holds no data; the API needs a token. */
export function mountDashboard(app: Hono): void {
  const serve = (body: string, type: string) => () =>
    new Response(body, { headers: { ...COMMON, "content-type": type } });
  app.get("/", serve(DASHBOARD_HTML, "text/html; charset=utf-8"));
  app.get("/dashboard.css", serve(DASHBOARD_CSS, "text/css; charset=utf-8"));
  app.get("/dashboard.js", serve(DASHBOARD_JS, "text/javascript; charset=utf-8"));
}
