import { lookup as systemLookup } from "node:dns/promises";
import { isIpLiteral, isPublicAddress } from "./ip_address.ts";
import { ExchangeError, type RawRequest, type ResolvedAddress, sendRaw } from "./raw_exchange.ts";

export type { ResolvedAddress };

/**
 * The SSRF guard for every fetch of a client-chosen URL (the generic pass-through proxy, its
 * WebSocket relay, image URLs inlined for Gemini): which addresses a target may resolve to.
 * The host is resolved once, every address is checked, and the connection is pinned to the
 * checked addresses, so a DNS answer that changes between check and connect (rebinding) is
 * never used. Each redirect hop is checked again the same way.
 */

/** A target refused because it is, or resolves to, a non-public address. */
export class BlockedAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlockedAddressError";
  }
}

/** A target host that does not resolve. */
export class UnresolvableHostError extends Error {
  constructor(host: string) {
    super(`Host ${host} does not resolve.`);
    this.name = "UnresolvableHostError";
  }
}

/** Names that mean this machine or its cloud's metadata service, whatever DNS says. */
function isLocalName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "metadata.google.internal" ||
    h === "metadata" || h === "instance-data";
}

/**
 * The operator's exceptions (`passthrough.allow_private`, `passthrough.allow_hosts`): all
 * targets may be private, or the listed `host` / `host:port` entries.
 */
export interface AddressPolicy {
  readonly allowPrivate: boolean;
  readonly allowHosts: readonly string[];
}

/** No exceptions: only public addresses. */
export const PUBLIC_ONLY: AddressPolicy = { allowPrivate: false, allowHosts: [] };

/** Resolves a host name to all its addresses (injectable, so tests need no real DNS). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo, so `/etc/hosts` counts), every address. */
export const systemResolver: Resolver = (host) => systemLookup(host, { all: true });

/** True when the policy lets this URL through without address checks. */
export function isExempt(url: URL, policy: AddressPolicy): boolean {
  if (policy.allowPrivate) return true;
  if (policy.allowHosts.length === 0) return false;
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" || url.protocol === "wss:" ? "443" : "80");
  return policy.allowHosts.some((e) => {
    const entry = e.toLowerCase();
    return entry === host || entry === `${host}:${port}`;
  });
}

/**
 * Checks a target before connecting: local names and non-public IP literals are refused
 * outright. Hostnames are resolved and every address must be public; the checked addresses
 * are returned so the caller connects to exactly those. Throws `BlockedAddressError` or
 * `UnresolvableHostError`; returns undefined when the policy exempts the target.
 */
export async function checkTarget(
  url: URL,
  policy: AddressPolicy,
  resolve: Resolver = systemResolver,
): Promise<ResolvedAddress[] | undefined> {
  if (isExempt(url, policy)) return undefined;
  const host = url.hostname;
  if (isLocalName(host)) throw new BlockedAddressError(`Target ${host} is a local name.`);
  if (isIpLiteral(host)) {
    if (!isPublicAddress(host)) {
      throw new BlockedAddressError(`Target ${host} is not a public address.`);
    }
    const bare = host.replace(/^\[|\]$/g, "");
    return [{ address: bare, family: bare.includes(":") ? 6 : 4 }];
  }
  let addresses: ResolvedAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    throw new UnresolvableHostError(host);
  }
  if (addresses.length === 0) throw new UnresolvableHostError(host);
  if (addresses.some((a) => !isPublicAddress(a.address))) {
    throw new BlockedAddressError(`Target ${host} resolves to a non-public address.`);
  }
  return addresses;
}

/** How a guarded exchange treats redirects and where it resolves and sends. */
export interface GuardOptions {
  /**
   * Which redirects are followed (each hop checked again): only to the same host name (the
   * request carries the client's credentials), or to any http(s) URL. A redirect that is not
   * followed is returned as it is.
   */
  follow: "same-host" | "any-host";
  /** Hops followed before giving up with 502 `too_many_redirects` (default 5). */
  maxRedirects?: number;
  /** Defaults to the system resolver; tests inject one. */
  resolve?: Resolver;
  /** The transport (default `sendRaw`, which connects to `addresses` only); tests inject one. */
  send?: (r: RawRequest) => Promise<Response>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * One exchange with a client-chosen URL: every hop's target is checked by the guard and the
 * connection pinned to the checked addresses. Throws the guard's errors for a refused hop.
 */
export async function sendGuarded(
  r: RawRequest,
  policy: AddressPolicy,
  options: GuardOptions,
): Promise<Response> {
  const send = options.send ?? sendRaw;
  const maxRedirects = options.maxRedirects ?? 5;
  let current = r;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const addresses = await checkTarget(current.url, policy, options.resolve);
    const res = await send({ ...current, addresses });
    const location = res.headers.get("location");
    if (!REDIRECTS.has(res.status) || location === null) return res;
    let next: URL;
    try {
      next = new URL(location, current.url);
    } catch {
      return res;
    }
    const sameHost = next.hostname.toLowerCase() === current.url.hostname.toLowerCase();
    if (next.protocol !== "http:" && next.protocol !== "https:") return res;
    if (options.follow === "same-host" && !sameHost) return res;
    await res.body?.cancel();
    // 303, and 301/302 after a POST, turn into a GET without a body, as browsers do.
    const toGet = res.status === 303 ? current.method !== "HEAD" : (res.status === 301 ||
      res.status === 302) && current.method === "POST";
    current = {
      ...current,
      url: next,
      method: toGet ? "GET" : current.method,
      body: toGet ? undefined : current.body,
      headers: toGet
        ? current.headers.filter(([n]) => n !== "content-type" && !n.startsWith("content-"))
        : current.headers,
    };
  }
  throw new ExchangeError(502, "too_many_redirects", "Upstream redirected too many times.");
}
