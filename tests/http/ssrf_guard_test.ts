/**
 * The SSRF guard: target checks with an injected resolver (no real DNS), pinning (the
 * connection goes to the checked address, never to a second lookup) and redirect re-checks.
 * Only 127.0.0.1 is ever connected to.
 */
import assert from "node:assert/strict";
import { ExchangeError, type RawRequest, sendRaw } from "../../src/http/raw_exchange.ts";
import {
  type AddressPolicy,
  BlockedAddressError,
  checkTarget,
  isExempt,
  type ResolvedAddress,
  type Resolver,
  sendGuarded,
  UnresolvableHostError,
} from "../../src/http/ssrf_guard.ts";

const closed: AddressPolicy = { allowPrivate: false, allowHosts: [] };

function resolverOf(table: Record<string, string[]>): Resolver {
  return (host) => {
    const addresses = table[host];
    if (!addresses) return Promise.reject(new Error("ENOTFOUND"));
    return Promise.resolve(
      addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
    );
  };
}

Deno.test("checkTarget: literals and local names are refused before any lookup", async () => {
  const never: Resolver = () => Promise.reject(new Error("must not resolve"));
  for (
    const u of [
      "http://127.0.0.1:8080/",
      "http://[::1]/",
      "https://169.254.169.254/latest/meta-data",
      "http://localhost/",
      "http://api.localhost/",
      "http://LOCALHOST./",
      "http://metadata.google.internal/",
      // The URL parser turns these spellings of 127.0.0.1 into the dotted form first.
      "http://2130706433/",
      "http://0x7f.1/",
      "http://[::ffff:127.0.0.1]/",
    ]
  ) {
    await assert.rejects(checkTarget(new URL(u), closed, never), BlockedAddressError, u);
  }
  assert.deepEqual(await checkTarget(new URL("https://8.8.8.8/"), closed, never), [
    { address: "8.8.8.8", family: 4 },
  ]);
});

Deno.test("checkTarget: every resolved address must be public; the checked ones are returned", async () => {
  const resolve = resolverOf({
    "api.example": ["93.184.216.34", "2606:2800:220:1::1"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],
    "rebind.example": ["::ffff:169.254.169.254"],
  });
  assert.deepEqual(await checkTarget(new URL("https://api.example/v1"), closed, resolve), [
    { address: "93.184.216.34", family: 4 },
    { address: "2606:2800:220:1::1", family: 6 },
  ]);
  await assert.rejects(
    checkTarget(new URL("https://mixed.example/"), closed, resolve),
    BlockedAddressError,
  );
  await assert.rejects(
    checkTarget(new URL("wss://rebind.example/"), closed, resolve),
    BlockedAddressError,
  );
  await assert.rejects(
    checkTarget(new URL("https://nowhere.example/"), closed, resolve),
    UnresolvableHostError,
  );
});

Deno.test("policy: allow_private exempts everything, allow_hosts only the listed host[:port]", async () => {
  const open: AddressPolicy = { allowPrivate: true, allowHosts: [] };
  assert.equal(await checkTarget(new URL("http://127.0.0.1/"), open), undefined);
  const listed: AddressPolicy = { allowPrivate: false, allowHosts: ["127.0.0.1:9000", "gpu.lan"] };
  assert.equal(isExempt(new URL("http://127.0.0.1:9000/x"), listed), true);
  assert.equal(isExempt(new URL("http://127.0.0.1:9001/x"), listed), false);
  assert.equal(isExempt(new URL("https://GPU.lan:8443/"), listed), true);
  assert.equal(isExempt(new URL("https://other.lan/"), listed), false);
  assert.equal(
    isExempt(new URL("https://10.0.0.1/"), { allowPrivate: false, allowHosts: ["10.0.0.1:443"] }),
    true,
  );
});

function get(url: string): RawRequest {
  return {
    method: "GET",
    url: new URL(url),
    headers: [["accept", "image/*"]],
    body: undefined,
    signal: new AbortController().signal,
    timeoutMs: 2_000,
  };
}

/** A resolver whose answers change from call to call, as a rebinding DNS server's do. */
function rebinding(answers: string[][]): Resolver & { calls: number } {
  const r = Object.assign((_host: string) => {
    const next = answers[Math.min(r.calls, answers.length - 1)];
    r.calls++;
    return Promise.resolve(next.map((address) => ({ address, family: 4 })));
  }, { calls: 0 });
  return r;
}

/** A transport that records where each hop would connect and answers from a script. */
function scripted(answers: Response[]): {
  send: (r: RawRequest) => Promise<Response>;
  hops: { url: string; addresses: readonly ResolvedAddress[] | undefined }[];
} {
  const hops: { url: string; addresses: readonly ResolvedAddress[] | undefined }[] = [];
  return {
    hops,
    send: (r) => {
      hops.push({ url: r.url.href, addresses: r.addresses });
      return Promise.resolve(answers[hops.length - 1] ?? new Response("end"));
    },
  };
}

Deno.test("rebind: one lookup per hop; the connection is pinned to the checked address", async () => {
  const resolve = rebinding([["93.184.216.34"], ["127.0.0.1"]]);
  const t = scripted([new Response("ok")]);
  const res = await sendGuarded(get("http://rebind.example/x.png"), closed, {
    follow: "any-host",
    resolve,
    send: t.send,
  });
  assert.equal(await res.text(), "ok");
  assert.equal(resolve.calls, 1, "no second, unchecked lookup");
  assert.deepEqual(t.hops, [{
    url: "http://rebind.example/x.png",
    addresses: [{ address: "93.184.216.34", family: 4 }],
  }]);
});

Deno.test("rebind: a redirect hop is resolved and checked again", async () => {
  const resolve = rebinding([["93.184.216.34"], ["127.0.0.1"]]);
  const t = scripted([new Response(null, { status: 302, headers: { location: "/again" } })]);
  await assert.rejects(
    sendGuarded(get("http://rebind.example/x.png"), closed, {
      follow: "same-host",
      resolve,
      send: t.send,
    }),
    BlockedAddressError,
  );
  assert.equal(resolve.calls, 2);
  assert.equal(t.hops.length, 1, "the second hop never connects");
});

Deno.test("redirects: same-host mode returns a redirect elsewhere; any-host follows and re-checks", async () => {
  const resolve: Resolver = () => Promise.resolve([{ address: "93.184.216.34", family: 4 }]);
  const away = () =>
    new Response(null, { status: 302, headers: { location: "http://[::ffff:7f00:1]/" } });
  const same = scripted([away()]);
  const kept = await sendGuarded(get("http://a.example/"), closed, {
    follow: "same-host",
    resolve,
    send: same.send,
  });
  assert.equal(kept.status, 302);
  const any = scripted([away()]);
  await assert.rejects(
    sendGuarded(get("http://a.example/"), closed, { follow: "any-host", resolve, send: any.send }),
    BlockedAddressError,
  );
  assert.equal(any.hops.length, 1);
  const loop = scripted(
    Array.from(
      { length: 10 },
      () => new Response(null, { status: 307, headers: { location: "/" } }),
    ),
  );
  await assert.rejects(
    sendGuarded(get("http://a.example/"), closed, {
      follow: "same-host",
      maxRedirects: 3,
      resolve,
      send: loop.send,
    }),
    (err: unknown) => err instanceof ExchangeError && err.code === "too_many_redirects",
  );
  assert.equal(loop.hops.length, 4);
});

Deno.test("pinning: the transport connects to the given address, whatever the host name says", async () => {
  const ac = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: (a) => resolve(a.port) },
    (req) => new Response(`host=${req.headers.get("host")}`),
  );
  const port = await listening;
  try {
    // `.invalid` never resolves (RFC 2606): only the pinned address can have been used.
    const res = await sendRaw({
      ...get(`http://pinned.invalid:${port}/x`),
      addresses: [{ address: "127.0.0.1", family: 4 }],
    });
    assert.equal(await res.text(), `host=pinned.invalid:${port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
});
