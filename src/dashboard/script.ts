/**
 * The dashboard's script: plain browser JavaScript, no build step. It keeps the admin token in
 * session storage, polls the admin API, and builds every cell with textContent (never HTML).
 */
export const DASHBOARD_JS = String.raw`"use strict";
(function () {
  var KEY = "llm-proxy-admin-token";
  var POLL_MS = 3000;
  var $ = function (id) { return document.getElementById(id); };
  var timer = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) { tr.appendChild(c instanceof Node ? c : el("td", c)); });
    return tr;
  }
  function token() { return sessionStorage.getItem(KEY); }
  function api(path, init) {
    init = init || {};
    init.headers = Object.assign({ authorization: "Bearer " + token() }, init.headers || {});
    return fetch(path, init).then(function (res) {
      if (res.status === 401 || res.status === 403) {
        sessionStorage.removeItem(KEY);
        show();
        throw new Error(res.status === 403 ? "admin API disabled" : "wrong admin token");
      }
      return res.json();
    });
  }
  function fmtNum(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString(); }
  function fmtMs(n) { return n === null || n === undefined ? "–" : n + " ms"; }
  function fmtDur(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m + "m " + (s % 60) + "s";
  }

  function renderStats(s) {
    var t = s.totals;
    $("total-requests").textContent = fmtNum(t.requests);
    $("success-rate").textContent = t.success_rate === null ? "–" :
      (t.success_rate * 100).toFixed(1) + "%";
    $("rate-limited").textContent = fmtNum(t.rate_limited);
    $("retries").textContent = fmtNum(t.retries);
    $("latency").textContent = fmtMs(s.latency_ms.p50) + " / " + fmtMs(s.latency_ms.p95);
    $("ttfb").textContent = fmtMs(s.ttfb_ms.p50) + " / " + fmtMs(s.ttfb_ms.p95);
    $("tokens").textContent = fmtNum(t.input_tokens) + " / " + fmtNum(t.output_tokens);
    $("uptime").textContent = fmtDur(s.uptime_seconds);
    renderChart(s.timeline);
  }

  function renderChart(points) {
    var svg = $("chart"), ns = "http://www.w3.org/2000/svg";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var max = 1;
    points.forEach(function (p) { if (p.requests > max) max = p.requests; });
    var w = 600 / points.length;
    points.forEach(function (p, i) {
      [["requests", "ok"], ["errors", "bad"]].forEach(function (k) {
        var h = p[k[0]] / max * 110;
        if (!h) return;
        var r = document.createElementNS(ns, "rect");
        r.setAttribute("x", String(i * w + 1));
        r.setAttribute("width", String(Math.max(1, w - 2)));
        r.setAttribute("y", String(118 - h));
        r.setAttribute("height", String(h));
        r.setAttribute("class", k[1]);
        var title = document.createElementNS(ns, "title");
        title.textContent = p.minute.slice(11, 16) + " " + p[k[0]] + " " + k[0];
        r.appendChild(title);
        svg.appendChild(r);
      });
    });
  }

  function renderProviders(providers) {
    var body = $("providers").tBodies[0];
    body.textContent = "";
    Object.keys(providers).sort().forEach(function (id) {
      var p = providers[id];
      body.appendChild(row([id, fmtNum(p.requests), fmtNum(p.failure), fmtNum(p.rate_limited),
        fmtNum(p.retries), fmtNum(p.input_tokens) + " / " + fmtNum(p.output_tokens)]));
    });
  }

  var BENCH = { server: "ejected", rate_limit: "rate-limited", auth: "refused" };

  function benchText(cool) {
    if (!cool) return "–";
    var until = new Date(Date.parse(cool.until)).toLocaleTimeString();
    return (BENCH[cool.reason] || cool.reason) + " until " + until +
      " (" + (cool.detail || cool.reason) + ")";
  }

  function renderAccounts(list, cooldowns) {
    var body = $("accounts").tBodies[0];
    body.textContent = "";
    var shown = {};
    list.forEach(function (a) {
      var cool = cooldowns.find(function (c) { return c.provider === a.provider && c.account === a.id; });
      if (cool) shown[a.provider + "/" + a.id] = true;
      var actions = el("td");
      if (a.kind !== "api_key" && a.kind !== "sealed") {
        var refresh = el("button", "Refresh");
        refresh.type = "button";
        refresh.onclick = function () { act(a, "POST", "/refresh"); };
        actions.appendChild(refresh);
      }
      // A sealed account (KV_ENCRYPTION_KEY missing or wrong) cannot be changed from here.
      if (a.kind !== "sealed") {
        var toggle = el("button", a.enabled ? "Disable" : "Enable");
        toggle.type = "button";
        toggle.onclick = function () { act(a, "PATCH", "", { enabled: !a.enabled }); };
        actions.appendChild(toggle);
      }
      if (cool) actions.appendChild(resetButton(a));
      var tr = row([a.provider, a.label || a.id, a.status, benchText(cool),
        a.expires_at ? a.expires_at.replace("T", " ").slice(0, 16) : "–",
        fmtNum(a.requests), fmtNum(a.errors), el("td", a.last_error || "", "err"), actions]);
      tr.dataset.account = a.provider + "/" + a.id;
      body.appendChild(tr);
    });
    // Keys from the config file are not stored accounts: they get a row while benched.
    cooldowns.forEach(function (c) {
      if (shown[c.provider + "/" + c.account]) return;
      var key = { provider: c.provider, id: c.account };
      var actions = el("td");
      actions.appendChild(resetButton(key));
      var tr = row([c.provider, c.account, "config key", benchText(c), "–", "–", "–",
        el("td", ""), actions]);
      tr.dataset.account = c.provider + "/" + c.account;
      body.appendChild(tr);
    });
    if (!body.rows.length) {
      var empty = row([el("td", "No accounts stored yet (POST /admin/credentials/{provider}).")]);
      empty.firstChild.colSpan = 9;
      body.appendChild(empty);
    }
  }

  function resetButton(a) {
    var reset = el("button", "Reset");
    reset.type = "button";
    reset.title = "End this bench or ejection now";
    reset.onclick = function () { act(a, "POST", "/reset"); };
    return reset;
  }

  function act(a, method, suffix, body) {
    var path = "/admin/credentials/" + encodeURIComponent(a.provider) + "/" + encodeURIComponent(a.id) + suffix;
    var init = { method: method };
    if (body) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    $("status").textContent = "working…";
    api(path, init).then(refresh, fail);
  }

  function renderRequests(entries) {
    var body = $("requests").tBodies[0];
    // Keep open rows open across refreshes.
    var open = {};
    body.querySelectorAll("details[open]").forEach(function (d) { open[d.dataset.id] = true; });
    body.textContent = "";
    entries.forEach(function (e) {
      var cell = el("td");
      var model = e.served_model && e.served_model !== e.model ? e.model + " → " + e.served_model : e.model;
      if (e.attempts.length) {
        var d = el("details");
        d.dataset.id = e.id;
        d.open = !!open[e.id];
        d.appendChild(el("summary", e.time.slice(11, 19) + " (" + e.attempts.length + " retried)"));
        e.attempts.forEach(function (a) {
          d.appendChild(el("div", a.provider + "/" + a.account + ": " + a.status + " " + a.reason +
            (a.ejected ? " → ejected" : a.benched_until ? " → benched" : "") +
            (a.panic ? " (panic routing)" : "")));
        });
        cell.appendChild(d);
      } else {
        cell.textContent = e.time.slice(11, 19);
      }
      var tr = row([cell, e.format + (e.stream ? " (stream)" : ""), e.client_key || "–", model,
        e.provider ? e.provider + (e.account ? "/" + e.account : "") : "–", String(e.status),
        fmtMs(e.latency_ms) + (e.ttfb_ms !== null ? " (ttfb " + e.ttfb_ms + ")" : ""),
        (e.input_tokens === null ? "–" : e.input_tokens) + " / " + (e.output_tokens === null ? "–" : e.output_tokens)]);
      tr.title = "request id " + e.id;
      if (e.status >= 400) tr.className = "fail";
      body.appendChild(tr);
    });
  }

  function limitsText(k) {
    var l = k.limits || {}, out = [];
    if (l.rpm) out.push("rpm " + l.rpm.used + "/" + l.rpm.limit);
    if (l.tpm) out.push("tpm " + fmtNum(l.tpm.used) + "/" + fmtNum(l.tpm.limit));
    if (l.budget && l.budget.tokens) {
      out.push(l.budget.period + " tokens " + fmtNum(l.budget.tokens.used) + "/" + fmtNum(l.budget.tokens.limit));
    }
    if (l.budget && l.budget.cost) {
      out.push(l.budget.period + " cost " + l.budget.cost.used.toFixed(2) + "/" + l.budget.cost.limit);
    }
    if (l.max_concurrent_streams) {
      out.push("streams " + l.max_concurrent_streams.open + "/" + l.max_concurrent_streams.limit);
    }
    return out.length ? out.join(" · ") : "none";
  }

  function renderKeys(list) {
    var body = $("keys").tBodies[0];
    body.textContent = "";
    list.forEach(function (k) {
      var expired = k.expires_at && Date.parse(k.expires_at) <= Date.now();
      var actions = el("td");
      [[k.enabled ? "Disable" : "Enable", "PATCH", "", { enabled: !k.enabled }],
        ["Rotate", "POST", "/rotate", {}], ["Revoke", "DELETE", "", null]].forEach(function (b) {
        var button = el("button", b[0]);
        button.type = "button";
        button.onclick = function () {
          if (b[0] === "Revoke" && !confirm("Revoke the key '" + k.label + "'? Its clients get 401.")) return;
          keyAct(k, b[1], b[2], b[3]);
        };
        actions.appendChild(button);
      });
      var t = k.today || {};
      var tr = row([k.label, k.hint, !k.enabled ? "disabled" : expired ? "expired" : "active",
        k.models ? k.models.join(", ") : "all", fmtNum(t.requests) + " req, " +
        fmtNum((t.input_tokens || 0) + (t.output_tokens || 0)) + " tokens", limitsText(k), actions]);
      tr.dataset.key = k.id;
      body.appendChild(tr);
    });
  }

  function showSecret(res) {
    $("new-key-secret").textContent = res.key;
    $("new-key").hidden = false;
  }

  function keyAct(k, method, suffix, body) {
    var init = { method: method };
    if (body) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    $("status").textContent = "working…";
    api("/admin/keys/" + encodeURIComponent(k.id) + suffix, init).then(function (res) {
      if (res.key) showSecret(res);
      return refresh();
    }, fail);
  }

  $("key-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { label: $("key-label").value.trim() };
    var models = $("key-models").value.split(",").map(function (m) { return m.trim(); })
      .filter(Boolean);
    if (models.length) body.models = models;
    if ($("key-rpm").value) body.rpm = Number($("key-rpm").value);
    if ($("key-budget").value) body.budget = { period: "day", tokens: Number($("key-budget").value) };
    api("/admin/keys", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (res) {
      if (!res.key) throw new Error((res.error && res.error.message) || "not created");
      showSecret(res);
      $("key-form").reset();
      return refresh();
    }).then(null, fail);
  });

  function renderSnippets() {
    var base = location.origin;
    var box = $("snippets");
    if (box.childNodes.length) return;
    [
      ["OpenAI SDKs and chat apps", "base URL: " + base + "/v1\napi key: <a client key>"],
      ["Anthropic SDK", "base URL: " + base + "\napi key: <a client key>"],
      ["Gemini SDK (@google/genai)", "httpOptions.baseUrl: " + base + "\napiKey: <a client key>"],
      ["Claude Code", "export ANTHROPIC_BASE_URL=" + base + "\nexport ANTHROPIC_AUTH_TOKEN=<a client key>\nclaude"],
      ["Codex (~/.codex/config.toml)", "model_provider = \"llm-proxy\"\n[model_providers.llm-proxy]\nname = \"llm-proxy\"\nbase_url = \"" + base + "/v1\"\nenv_key = \"LLM_PROXY_KEY\"\nwire_api = \"responses\""],
      ["Gemini CLI", "export GOOGLE_GEMINI_BASE_URL=" + base + "\nexport GEMINI_API_KEY=<a client key>\ngemini"],
      ["curl", "curl " + base + "/v1/chat/completions -H 'authorization: Bearer <a client key>' \\\n  -H 'content-type: application/json' \\\n  -d '{\"model\":\"<model>\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"],
    ].forEach(function (s) {
      box.appendChild(el("h3", s[0]));
      box.appendChild(el("pre", s[1]));
    });
  }

  function fail(err) { $("status").textContent = "error: " + err.message; }

  function refresh() {
    if (!token()) return Promise.resolve();
    return Promise.all([api("/admin/stats"), api("/admin/credentials"), api("/admin/logs?limit=50"),
      api("/admin/keys")])
      .then(function (r) {
        renderKeys(r[3].keys || []);
        renderStats(r[0]);
        renderProviders(r[0].providers || {});
        renderAccounts(r[1].accounts || [], r[0].cooldowns || []);
        renderRequests(r[2].entries || []);
        $("status").textContent = "updated " + new Date().toLocaleTimeString();
      }, fail);
  }

  function show() {
    var has = !!token();
    $("token-form").hidden = has;
    $("board").hidden = !has;
    $("logout").hidden = !has;
    clearInterval(timer);
    if (has) {
      renderSnippets();
      refresh();
      timer = setInterval(refresh, POLL_MS);
    }
  }

  $("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    show();
  });
  $("logout").addEventListener("click", function () {
    sessionStorage.removeItem(KEY);
    show();
  });
  show();
})();
`;
