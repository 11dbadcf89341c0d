import { readBounded } from "../../http/body.ts";
import { RequestError } from "../../errors.ts";

/**
 * Fetches an http(s) image for Gemini, which only accepts inline bytes (`inlineData`) or files it
 * hosts (`fileData`). Bounded in size and time; a failure is the client's problem (its URL), so
 * it becomes a RequestError 400 naming the URL. Private and loopback addresses are refused
 * unless allowed, so a client cannot make the gateway read its own network (SSRF).
 */

export interface ImageFetchOptions {
  /** The fetch to use (tests pass their own); defaults to the global fetch. */
  fetch?: typeof fetch;
  /** The client's signal: the download stops when the client goes away. */
  signal?: AbortSignal;
  /** Largest accepted image in bytes (default 20 MiB, Gemini's inline request limit). */
  maxBytes?: number;
  /** Time allowed for the whole download (default 10 s). */
  timeoutMs?: number;
  /** Allow loopback/private/link-local hosts (tests, trusted deployments). Default false. */
  allowPrivateNetwork?: boolean;
}

export const DEFAULT_IMAGE_MAX_BYTES = 20 * 1024 * 1024;
export const DEFAULT_IMAGE_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 3;

export interface InlineData {
  mimeType: string;
  data: string;
}

/** Downloads `url` and returns it base64-encoded with its media type. */
export async function fetchImageAsInlineData(
  url: string,
  options: ImageFetchOptions = {},
): Promise<InlineData> {
  const maxBytes = options.maxBytes ?? DEFAULT_IMAGE_MAX_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_IMAGE_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const fail = (why: string): RequestError =>
    new RequestError(`Could not fetch the image at ${shortUrl(url)}: ${why}`, "invalid_image_url");

  let current = url;
  let res: Response | undefined;
  try {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const target = parseHttpUrl(current);
      if (!target) throw fail("only http and https URLs can be fetched.");
      if (!options.allowPrivateNetwork && await isPrivateHost(target.hostname)) {
        throw fail("the host is on a private or loopback network.");
      }
      res = await doFetch(target, { signal, redirect: "manual", headers: { accept: "image/*" } });
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        current = new URL(location, target).href;
        res = undefined;
        continue;
      }
      break;
    }
    if (!res) throw fail("too many redirects.");
    if (!res.ok) {
      await res.body?.cancel();
      throw fail(`the server answered ${res.status}.`);
    }
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body?.cancel();
      throw fail(`it is larger than ${maxBytes} bytes.`);
    }
    const bytes = await readLimited(res, maxBytes);
    if (!bytes) throw fail(`it is larger than ${maxBytes} bytes.`);
    const mimeType = mediaType(res.headers.get("content-type"), bytes);
    if (!mimeType) throw fail("the response is not an image.");
    return { mimeType, data: bytesToBase64(bytes) };
  } catch (err) {
    if (err instanceof RequestError) throw err;
    if (timeout.aborted) throw fail(`no complete answer within ${timeoutMs} ms.`);
    throw fail("the host is unreachable.");
  }
}

function parseHttpUrl(url: string): URL | undefined {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u : undefined;
  } catch {
    return undefined;
  }
}

/** The URL without query and fragment, so signed-URL tokens are not echoed into errors. */
function shortUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "the given URL";
  }
}

function readLimited(res: Response, maxBytes: number): Promise<Uint8Array | undefined> {
  return res.body ? readBounded(res.body, maxBytes) : Promise.resolve(new Uint8Array(0));
}

const GENERIC_TYPES = new Set(["", "application/octet-stream", "binary/octet-stream"]);

/** The declared media type when it is an image (or PDF), else one sniffed from magic bytes. */
function mediaType(header: string | null, bytes: Uint8Array): string | undefined {
  const declared = (header ?? "").split(";")[0].trim().toLowerCase();
  if (declared.startsWith("image/") || declared === "application/pdf") return declared;
  if (!GENERIC_TYPES.has(declared)) return undefined;
  const b = bytes;
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "image/png";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return "image/gif";
  if (
    b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
    b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50
  ) return "image/webp";
  if (b[0] === 0x25 && b[1] === 0x50 && b[2] === 0x44 && b[3] === 0x46) return "application/pdf";
  return undefined;
}

/** Base64 without building one huge intermediate string per byte. */
export function bytesToBase64(bytes: Uint8Array): string {
  let out = "";
  // A multiple of 3 bytes per chunk keeps the chunks' base64 concatenable.
  const step = 3 * 10_000;
  for (let i = 0; i < bytes.length; i += step) {
    out += btoa(String.fromCharCode(...bytes.subarray(i, i + step)));
  }
  return out;
}

/** Loopback, private, link-local, CGNAT, multicast and unspecified addresses, by literal or DNS. */
async function isPrivateHost(hostname: string): Promise<boolean> {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host === "") return true;
  if (isIpLiteral(host)) return isPrivateIp(host);
  const addresses: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      addresses.push(...await Deno.resolveDns(host, type));
    } catch {
      // No such record: the fetch itself reports an unreachable host.
    }
  }
  return addresses.some(isPrivateIp);
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function isPrivateIp(ip: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || a >= 224 ||
      (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const v6 = ip.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(v6);
  if (mapped) return isPrivateIp(mapped[1]);
  return v6 === "::" || v6 === "::1" || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) ||
    /^ff/.test(v6);
}
