/**
 * Header hygiene for raw forwarding: what leaves towards the upstream carries the client's own
 * headers minus anything that identifies the client or the gateway; what comes back carries
 * the upstream's headers minus the per-connection ones.
 */

/** Connection-scoped headers (RFC 9110 §7.6.1), never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Headers a proxy or CDN adds that name the client, its address or the path it took. */
const IDENTIFYING = new Set([
  "forwarded",
  "via",
  "x-real-ip",
  "true-client-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "fastly-client-ip",
]);
const IDENTIFYING_PREFIXES = ["x-forwarded-", "cf-", "x-vercel-", "x-deno-"];

/**
 * Set by the gateway or the HTTP layer from the target and the body actually sent (`expect`
 * too: the gateway has already read the body, there is nothing left to wait for).
 */
const RECOMPUTED = new Set(["host", "content-length", "expect"]);

/** The WebSocket handshake's own headers; the outbound socket makes its own. */
const WEBSOCKET_HANDSHAKE = new Set([
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "sec-websocket-accept",
]);

/** Names listed in `Connection` are hop-by-hop for this message too. */
function connectionListed(headers: Headers): Set<string> {
  const listed = new Set<string>();
  for (const name of (headers.get("connection") ?? "").split(",")) {
    const n = name.trim().toLowerCase();
    if (n) listed.add(n);
  }
  return listed;
}

function isIdentifying(name: string): boolean {
  return IDENTIFYING.has(name) || IDENTIFYING_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * The client's request headers as they may leave for the upstream: without identifying,
 * hop-by-hop, `host`/`content-length` (set for the target), the names in `drop`, and any
 * header whose value contains one of `secrets` (gateway keys must never reach a provider).
 */
export function outboundHeaders(
  inbound: Headers,
  options: { secrets: readonly string[]; drop?: readonly string[]; websocket?: boolean },
): [string, string][] {
  const listed = connectionListed(inbound);
  const out: [string, string][] = [];
  for (const [name, value] of inbound) {
    if (
      HOP_BY_HOP.has(name) || listed.has(name) || RECOMPUTED.has(name) || isIdentifying(name) ||
      options.drop?.includes(name) || (options.websocket && WEBSOCKET_HANDSHAKE.has(name))
    ) continue;
    if (options.secrets.some((s) => value.includes(s))) continue;
    out.push([name, value]);
  }
  return out;
}

/**
 * The upstream's response headers as sent to the client: everything but hop-by-hop ones.
 * Takes raw name/value pairs so repeated headers (`set-cookie`) survive one by one.
 */
export function inboundResponseHeaders(raw: readonly string[]): Headers {
  const pairs: [string, string][] = [];
  const listed = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].toLowerCase() === "connection") {
      for (const n of raw[i + 1].split(",")) listed.add(n.trim().toLowerCase());
    }
  }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
    pairs.push([name, raw[i + 1]]);
  }
  const headers = new Headers();
  for (const [n, v] of pairs) headers.append(n, v);
  return headers;
}

/** Name/value pairs as node:http takes them: a repeated header becomes an array of values. */
export function headerRecord(
  pairs: readonly [string, string][],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const prev = out[name];
    out[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return out;
}
