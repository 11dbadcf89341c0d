import assert from "node:assert/strict";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "../../src/dashboard/page.ts";
import { DASHBOARD_JS } from "../../src/dashboard/script.ts";

Deno.test("the dashboard script is valid JavaScript and every element it uses is on the page", () => {
  // Compiled, not run: a syntax error in the string would only show in a browser otherwise.
  new Function(DASHBOARD_JS);
  const used = [...DASHBOARD_JS.matchAll(/\$\("([a-z-]+)"\)/g)].map((m) => m[1]);
  assert.ok(used.length > 10);
  for (const id of new Set(used)) {
    assert.ok(DASHBOARD_HTML.includes(`id="${id}"`), `#${id} is missing from the page`);
  }
});

Deno.test("the page has no inline script or style, nothing from outside, and is small", () => {
  assert.ok(!/<script(?![^>]*\bsrc=)/.test(DASHBOARD_HTML), "no inline script");
  assert.ok(!/<style|\sstyle=/.test(DASHBOARD_HTML), "no inline style");
  assert.ok(!/\son[a-z]+=/.test(DASHBOARD_HTML), "no inline handlers");
  for (const text of [DASHBOARD_HTML, DASHBOARD_CSS, DASHBOARD_JS]) {
    assert.ok(!/(src|href)="https?:/.test(text) && !/@import|url\(/.test(text));
  }
  // The script builds cells with textContent only, so account labels and errors cannot inject.
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(DASHBOARD_JS));
  const size = DASHBOARD_HTML.length + DASHBOARD_CSS.length + DASHBOARD_JS.length;
  assert.ok(size < 32 * 1024, `${size} bytes`);
});
