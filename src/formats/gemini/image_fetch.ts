import { readBounded } from "../../http/body.ts";
import { ExchangeError, type RawRequest } from "../../http/raw_exchange.ts";
import {
  type AddressPolicy,
  BlockedAddressError,
  PUBLIC_ONLY,
  type Resolver,
  sendGuarded,
  UnresolvableHostError,
} from "../../http/ssrf_guard.ts";
import { RequestError } from "../../errors.ts";
import { addressPolicyOf, type PassthroughConfig } from "../../passthrough/config.ts";
import { IMAGE_FETCH_DEFAULTS, type ImageFetchConfig } from "./image_fetch_config.ts";

/**
 * Fetches http(s) images for Gemini, which only accepts inline bytes (`inlineData`) or files it
 * hosts (`fileData`). Every download goes through the SSRF guard (addresses checked after DNS
 * resolution, the connection pinned to them, redirects checked again) with the operator's
 * `passthrough.allow_private` / `allow_hosts` exceptions. A request's downloads are bounded in
 * number, total bytes, bytes per image, time and parallelism. A failure is the client's problem
 * (its URLs), so it becomes a RequestError 400 naming the URL.
 */

/** What the operator configured, as plain data: whom the guard lets through, and the bounds. */
export interface ImageFetchSettings {
  policy: AddressPolicy;
  limits: ImageFetchConfig;
}

/** Public addresses only, default bounds. */
export const DEFAULT_IMAGE_FETCH: ImageFetchSettings = {
  policy: PUBLIC_ONLY,
  limits: IMAGE_FETCH_DEFAULTS,
};

const settingsCache = new WeakMap<object, ImageFetchSettings>();

/**
 * The settings from the config's `passthrough` and `limits.image_fetch` sections; one object
 * per config, so building call contexts allocates nothing.
 */
export function imageFetchSettingsOf(
  config: { passthrough: PassthroughConfig; limits: { image_fetch: ImageFetchConfig } },
): ImageFetchSettings {
  let settings = settingsCache.get(config);
  if (!settings) {
    settings = { policy: addressPolicyOf(config.passthrough), limits: config.limits.image_fetch };
    settingsCache.set(config, settings);
  }
  return settings;
}

export interface ImageFetchOptions {
  /** Defaults to `DEFAULT_IMAGE_FETCH`. */
  settings?: ImageFetchSettings;
  /** The client's signal: the downloads stop when the client goes away. */
  signal?: AbortSignal;
  /** Time allowed for each download (default 10 s). */
  timeoutMs?: number;
  /** The guard's resolver (tests inject one; default: the system resolver). */
  resolve?: Resolver;
  /** The guard's transport (tests inject one; default: pinned node:http). */
  send?: (r: RawRequest) => Promise<Response>;
}

export const DEFAULT_IMAGE_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 3;
const REQUEST_HEADERS: [string, string][] = [["accept", "image/*"], ["user-agent", "llm-proxy"]];

export interface InlineData {
  mimeType: string;
  data: string;
}

/** Bytes the request's downloads may still use, charged as chunks arrive. */
interface ByteBudget {
  remaining: number;
}

/**
 * Downloads every URL (distinct ones, at most `max_images`), `concurrency` at a time. The
 * first failure stops the others and is thrown.
 */
export async function fetchImages(
  urls: readonly string[],
  options: ImageFetchOptions = {},
): Promise<Map<string, InlineData>> {
  const limits = (options.settings ?? DEFAULT_IMAGE_FETCH).limits;
  const distinct = [...new Set(urls)];
  const out = new Map<string, InlineData>();
  if (distinct.length === 0) return out;
  if (distinct.length > limits.max_images) {
    throw new RequestError(
      `The request asks to fetch ${distinct.length} image URLs; at most ${limits.max_images} ` +
        "are fetched per request. Send fewer, or send the images inline (base64).",
      "too_many_images",
    );
  }
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const budget: ByteBudget = { remaining: limits.max_total_bytes };
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < distinct.length) {
      const url = distinct[next++];
      try {
        out.set(url, await fetchOne(url, { ...options, signal }, budget));
      } catch (err) {
        if (failure) return;
        failure = { err };
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limits.concurrency, distinct.length) }, worker));
  if (failure) throw failure.err;
  return out;
}

/** Downloads one image and returns it base64-encoded with its media type. */
export async function fetchImageAsInlineData(
  url: string,
  options: ImageFetchOptions = {},
): Promise<InlineData> {
  return (await fetchImages([url], options)).get(url)!;
}

async function fetchOne(
  url: string,
  options: ImageFetchOptions & { signal: AbortSignal },
  budget: ByteBudget,
): Promise<InlineData> {
  const { policy, limits } = options.settings ?? DEFAULT_IMAGE_FETCH;
  const maxBytes = limits.max_image_bytes;
  const timeoutMs = options.timeoutMs ?? DEFAULT_IMAGE_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout]);
  const fail = (why: string): RequestError =>
    new RequestError(`Could not fetch the image at ${shortUrl(url)}: ${why}`, "invalid_image_url");
  const overTotal = (): RequestError =>
    new RequestError(
      `The request's images are larger than ${limits.max_total_bytes} bytes together ` +
        `(stopped at ${shortUrl(url)}).`,
      "images_too_large",
    );

  const target = parseHttpUrl(url);
  if (!target) throw fail("only http and https URLs can be fetched.");
  try {
    const res = await sendGuarded(
      { method: "GET", url: target, headers: REQUEST_HEADERS, body: undefined, signal, timeoutMs },
      policy,
      {
        follow: "any-host",
        maxRedirects: MAX_REDIRECTS,
        resolve: options.resolve,
        send: options.send,
      },
    );
    if (!res.ok) {
      await res.body?.cancel();
      throw fail(`the server answered ${res.status}.`);
    }
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body?.cancel();
      throw fail(`it is larger than ${maxBytes} bytes.`);
    }
    if (Number.isFinite(declared) && declared > budget.remaining) {
      await res.body?.cancel();
      throw overTotal();
    }
    const bytes = res.body
      ? await readBounded(res.body.pipeThrough(charging(budget)), maxBytes)
      : new Uint8Array(0);
    if (!bytes) throw fail(`it is larger than ${maxBytes} bytes.`);
    const mimeType = mediaType(res.headers.get("content-type"), bytes);
    if (!mimeType) throw fail("the response is not an image.");
    return { mimeType, data: bytesToBase64(bytes) };
  } catch (err) {
    if (err instanceof RequestError) throw err;
    if (budget.remaining < 0) throw overTotal();
    if (err instanceof BlockedAddressError) {
      throw fail("the host is on a private or loopback network.");
    }
    if (err instanceof UnresolvableHostError) throw fail("the host name does not resolve.");
    if (err instanceof ExchangeError && err.code === "too_many_redirects") {
      throw fail("too many redirects.");
    }
    const timedOut = timeout.aborted ||
      (err instanceof ExchangeError && err.code === "upstream_timeout");
    if (timedOut) throw fail(`no complete answer within ${timeoutMs} ms.`);
    throw fail("the host is unreachable.");
  }
}

/** Passes chunks on while the request's byte budget lasts; errors the stream once it is spent. */
function charging(budget: ByteBudget): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      budget.remaining -= chunk.byteLength;
      if (budget.remaining < 0) controller.error(new Error("image byte budget spent"));
      else controller.enqueue(chunk);
    },
  });
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
