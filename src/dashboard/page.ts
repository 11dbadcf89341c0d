/**
 * The dashboard page: plain HTML whose style and script are served from the gateway itself
 * (`/dashboard.css`, `/dashboard.js`), so a strict CSP allows nothing else and it works behind
 * firewalls. No data is in the page: the script fetches it with the admin token.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llm-proxy</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header><h1>llm-proxy</h1><span id="status" role="status"></span>
<button id="logout" type="button" hidden>Forget token</button></header>
<main>
<form id="token-form" hidden>
  <label for="token">Admin token</label>
  <input id="token" type="password" autocomplete="off" required>
  <button type="submit">Open dashboard</button>
  <p class="hint">Kept in this tab's session storage only.</p>
</form>
<div id="board" hidden>
  <section class="cards" aria-label="Totals">
    <div class="card"><b id="total-requests">0</b><span>requests</span></div>
    <div class="card"><b id="success-rate">–</b><span>success rate</span></div>
    <div class="card"><b id="rate-limited">0</b><span>rate-limited</span></div>
    <div class="card"><b id="retries">0</b><span>retries</span></div>
    <div class="card"><b id="latency">–</b><span>latency p50 / p95</span></div>
    <div class="card"><b id="ttfb">–</b><span>TTFB p50 / p95</span></div>
    <div class="card"><b id="tokens">0 / 0</b><span>tokens in / out</span></div>
    <div class="card"><b id="uptime">–</b><span>uptime</span></div>
  </section>
  <section><h2>Last hour</h2>
    <svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img"
      aria-label="Requests and errors per minute over the last hour"></svg>
    <p class="legend"><i class="ok"></i> requests <i class="bad"></i> errors</p>
  </section>
  <section><h2>Providers</h2><div class="scroll"><table id="providers">
    <thead><tr><th>Provider</th><th>Requests</th><th>Errors</th><th>Rate-limited</th>
    <th>Retries</th><th>Tokens in / out</th></tr></thead><tbody></tbody>
  </table></div></section>
  <section><h2>Accounts</h2><div class="scroll"><table id="accounts">
    <thead><tr><th>Provider</th><th>Label</th><th>Status</th><th>Benched / ejected</th><th>Expires</th>
    <th>Requests</th><th>Errors</th><th>Last error</th><th></th></tr></thead><tbody></tbody>
  </table></div></section>
  <section><h2>Client keys</h2>
    <form id="key-form"><input id="key-label" placeholder="label" required maxlength="100">
    <input id="key-models" placeholder="models: a, b*"><input id="key-rpm" type="number" min="1"
    placeholder="rpm"><input id="key-budget" type="number" min="1" placeholder="tokens per day">
    <button type="submit">Create key</button></form>
    <div id="new-key" hidden><p>Copy this key now: it is not shown again.</p>
    <pre id="new-key-secret"></pre></div>
    <div class="scroll"><table id="keys">
    <thead><tr><th>Label</th><th>Key</th><th>Status</th><th>Models</th><th>Today</th>
    <th>Limits</th><th></th></tr></thead><tbody></tbody>
  </table></div></section>
  <section><h2>Recent requests</h2><div class="scroll"><table id="requests">
    <thead><tr><th>Time</th><th>Format</th><th>Client key</th><th>Model</th><th>Provider</th><th>Status</th>
    <th>Latency</th><th>Tokens</th></tr></thead><tbody></tbody>
  </table></div></section>
  <section><h2>Client set-up</h2><div id="snippets"></div></section>
</div>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root{--bg:#f6f7f9;--fg:#1d2330;--mute:#667085;--card:#fff;--ok:#2f7de1;--bad:#d64545;--line:#e3e6ea}
@media (prefers-color-scheme:dark){:root{--bg:#14161a;--fg:#e6e8eb;--mute:#9aa3af;--card:#1e2127;--line:#2c3038}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;gap:12px;align-items:center;padding:10px 16px;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0}h2{font-size:15px;margin:18px 0 8px}
#status{color:var(--mute);flex:1}
main{padding:12px 16px;max-width:1200px;margin:auto}
form{display:flex;flex-wrap:wrap;gap:8px;align-items:center;max-width:460px;margin:40px auto}
form label{width:100%;font-weight:600}form input{flex:1;min-width:0;padding:8px}
.hint{color:var(--mute);width:100%;margin:0}
button{padding:6px 10px;border:1px solid var(--line);background:var(--card);color:var(--fg);border-radius:6px;cursor:pointer}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
.card b{display:block;font-size:20px}.card span{color:var(--mute);font-size:12px}
svg{width:100%;height:120px;background:var(--card);border:1px solid var(--line);border-radius:8px}
.ok{fill:var(--ok);background:var(--ok)}.bad{fill:var(--bad);background:var(--bad)}
.legend i{display:inline-block;width:10px;height:10px;margin-left:8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:top}
td.err{white-space:normal;max-width:280px;color:var(--bad)}
tr.fail td:nth-child(5){color:var(--bad)}
details summary{cursor:pointer}
pre{background:var(--card);border:1px solid var(--line);padding:8px;overflow-x:auto;border-radius:6px}
`;
