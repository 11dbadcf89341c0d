import { isAuthorized } from "../auth/client_auth.ts";
import type { Config } from "../config/schema.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { RequestError } from "../errors.ts";
import { readBodyBytes } from "../http/body.ts";
import type { Logger } from "../observe/logger.ts";
import { ExchangeError, type RawRequest, sendRaw } from "../http/raw_exchange.ts";
import {
  type AddressPolicy,
  BlockedAddressError,
  checkTarget,
  sendGuarded,
  UnresolvableHostError,
} from "../http/ssrf_guard.ts";
import { addressPolicyOf, type PassthroughConfig } from "./config.ts";
import { PassthroughError, passthroughErrorResponse } from "./errors.ts";
import { outboundHeaders } from "./headers.ts";
import { PROVIDER_PRESETS } from "./presets.ts";
import { confineRelayed, withRelayHeaders } from "./relay_safety.ts";
import { relayWebSocket } from "./websocket.ts";

/**
 * The pass-through routes: `/{gatewayKey}/{preset}/...` (or `/{preset}/...` when
 * `require_auth` is false), supplier routing (`/v2/{supplier}/...`, or a `supplier` header on
 * `/v1/chat/completions`), the generic proxy `/{gatewayKey}/{http|https|ws|wss}/{host}/...`,
 * and WebSocket upgrades on all of them. Requests leave with the client's own credentials.
 */
export interface Passthrough {
  /**
   * Answers a request no gateway route matched, when its path is a pass-through form;
   * undefined otherwise (the caller answers 404). Cheap for other paths: a string split.
   */
  route(req: Request): Promise<Response> | undefined;
  /** `/v1/chat/completions` with a `supplier` header; undefined when pass-through is off. */
  supplier(req: Request): Promise<Response> | undefined;
}

/** A preset as used at request time. */
interface ResolvedPreset {
  targets: readonly string[];
  openaiPath: string;
  /** A built-in loopback target the operator has not enabled: refused. */
  disabled?: true;
}

interface Compiled {
  presets: ReadonlyMap<string, ResolvedPreset>;
  policy: AddressPolicy;
  /** Gateway secrets that must never reach an upstream. */
  secrets: readonly string[];
}

/** Second path segments that make `/{gatewayKey}/...` the generic proxy. */
const SCHEMES = new Set(["http", "https", "ws", "wss"]);

/** The preset table for a config: built-ins, `ollama_url`, then the config's own entries. */
export function resolvePresets(pt: PassthroughConfig): Map<string, ResolvedPreset> {
  const out = new Map<string, ResolvedPreset>();
  for (const [name, p] of Object.entries(PROVIDER_PRESETS)) {
    const enabled = !p.local || pt.allow_private || pt.local_presets.includes(name);
    out.set(name, {
      targets: [p.target],
      openaiPath: p.openai_path,
      ...(enabled ? {} : { disabled: true as const }),
    });
  }
  if (pt.ollama_url) {
    out.set("ollama", {
      targets: [trimSlash(pt.ollama_url)],
      openaiPath: PROVIDER_PRESETS.ollama.openai_path,
    });
  }
  for (const [name, p] of Object.entries(pt.presets)) {
    out.set(name, {
      targets: p.targets.map(trimSlash),
      openaiPath: p.openai_path ?? out.get(name)?.openaiPath ?? "/v1",
    });
  }
  return out;
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, "");
}

/** Splits `/a/rest...` into `a` and `/rest...` (the rest keeps its leading slash, or is ""). */
function firstSegment(path: string): [string, string] {
  const end = path.indexOf("/", 1);
  return end < 0 ? [path.slice(1), ""] : [path.slice(1, end), path.slice(end)];
}

function isUpgrade(req: Request): boolean {
  return req.headers.get("upgrade")?.toLowerCase() === "websocket";
}

export function createPassthrough(
  deps: { state: () => RuntimeState; logger: Logger },
): Passthrough {
  const cache = new WeakMap<Config, Compiled>();
  const compiled = (config: Config): Compiled => {
    let c = cache.get(config);
    if (!c) {
      const pt = config.passthrough;
      c = {
        presets: resolvePresets(pt),
        policy: addressPolicyOf(pt),
        secrets: [
          ...config.auth.api_keys,
          ...(config.auth.admin_token ? [config.auth.admin_token] : []),
        ],
      };
      cache.set(config, c);
    }
    return c;
  };

  /** Runs a handler, turning pass-through failures into the gateway's small JSON. */
  const answer = async (run: () => Promise<Response>): Promise<Response> => {
    try {
      return await run();
    } catch (err) {
      const e = asPassthroughError(err);
      if (e.status >= 500) {
        deps.logger.warn("pass-through failure", { code: e.code, error: e.message });
      }
      return withRelayHeaders(passthroughErrorResponse(e));
    }
  };

  /** Forwards to `target` (an http(s) URL string without query) with the client's request. */
  const forward = async (
    req: Request,
    target: string,
    opts: { guarded: boolean; drop?: string[] },
  ): Promise<Response> => {
    const config = deps.state().config;
    const c = compiled(config);
    const inbound = new URL(req.url);
    let url: URL;
    try {
      url = new URL(target + cleanQuery(inbound.search, c.secrets));
    } catch {
      throw new PassthroughError(400, "bad_target", "The target URL is not valid.");
    }
    if (url.username || url.password) {
      throw new PassthroughError(400, "bad_target", "The target URL may not carry credentials.");
    }
    const websocket = isUpgrade(req);
    const headers = outboundHeaders(req.headers, {
      secrets: c.secrets,
      drop: opts.drop,
      websocket,
    });
    if (websocket) {
      const opened = await relayWebSocket(req, url, {
        headers,
        timeoutMs: Math.min(config.passthrough.timeout_ms, 30_000),
        addresses: opts.guarded ? await checkTarget(url, c.policy) : undefined,
      });
      return await confineRelayed(opened, url);
    }
    const raw: RawRequest = {
      method: req.method,
      url,
      headers,
      body: await readBody(req, config.limits),
      signal: req.signal,
      timeoutMs: config.passthrough.timeout_ms,
    };
    // A redirect elsewhere goes back to the client: the request carries its credentials.
    const res = opts.guarded
      ? await sendGuarded(raw, c.policy, { follow: "same-host" })
      : await sendRaw(raw);
    deps.logger.debug("pass-through", { method: req.method, host: url.host, status: res.status });
    return await confineRelayed(res, url);
  };

  const presetTarget = (name: string, preset: ResolvedPreset): string => {
    if (preset.disabled) {
      throw new PassthroughError(
        403,
        "preset_not_enabled",
        `Preset "${name}" points at this machine (${preset.targets[0]}) and is off until the ` +
          `operator enables it: passthrough.local_presets: ["${name}"] (or passthrough.ollama_url).`,
      );
    }
    return preset.targets[Math.floor(Math.random() * preset.targets.length)];
  };

  const viaPreset = (
    req: Request,
    name: string,
    preset: ResolvedPreset,
    rest: string,
  ): Promise<Response> =>
    answer(() => forward(req, presetTarget(name, preset) + rest, { guarded: false }));

  const viaSupplier = (req: Request, name: string, rest: string): Promise<Response> =>
    answer(() => {
      const preset = compiled(deps.state().config).presets.get(name);
      if (!preset) {
        throw new PassthroughError(404, "unknown_supplier", `Unknown supplier "${name}".`);
      }
      return forward(req, presetTarget(name, preset) + preset.openaiPath + rest, {
        guarded: false,
        drop: ["supplier"],
      });
    });

  const viaGeneric = (req: Request, scheme: string, rest: string): Promise<Response> =>
    answer(() => {
      const [host, path] = firstSegment(rest);
      if (host === "" || /[@%/\\?#]/.test(host)) {
        throw new PassthroughError(400, "bad_target", "Expected /{http|https|ws|wss}/{host}/...");
      }
      const ws = scheme === "ws" || scheme === "wss";
      if (ws && !isUpgrade(req)) {
        throw new PassthroughError(400, "bad_upgrade", "Expected a WebSocket upgrade request.");
      }
      const httpScheme = scheme === "wss" || scheme === "https" ? "https" : "http";
      return forward(req, `${httpScheme}://${host}${path || "/"}`, { guarded: true });
    });

  /** Checks the gateway key in the path; undefined when it is good. */
  const keyProblem = (segment: string): Response | undefined => {
    const keys = deps.state().config.auth.api_keys;
    if (keys.length === 0) {
      return passthroughErrorResponse(
        new PassthroughError(
          403,
          "passthrough_needs_keys",
          "Key-prefixed pass-through routes need client keys (auth.api_keys).",
        ),
      );
    }
    let presented: string;
    try {
      presented = decodeURIComponent(segment);
    } catch {
      presented = segment;
    }
    if (!isAuthorized([presented], keys)) {
      return passthroughErrorResponse(
        new PassthroughError(401, "invalid_gateway_key", "Invalid gateway key."),
      );
    }
    return undefined;
  };

  return {
    route(req) {
      const config = deps.state().config;
      const pt = config.passthrough;
      if (!pt.enabled) return undefined;
      const [a, afterA] = firstSegment(new URL(req.url).pathname);
      const [b, afterB] = firstSegment(afterA);
      const c = compiled(config);
      if (!pt.require_auth) {
        const preset = c.presets.get(a);
        if (preset) return viaPreset(req, a, preset, afterA);
        if (a === "v2" && b !== "") return viaSupplier(req, b, afterB);
      }
      const preset = c.presets.get(b);
      const keyed = preset !== undefined || SCHEMES.has(b) ||
        (b === "v2" && afterB.length > 1) || (b === "v1" && afterB === "/chat/completions");
      if (!keyed) return undefined;
      const denied = keyProblem(a);
      if (denied) return Promise.resolve(denied);
      if (preset) return viaPreset(req, b, preset, afterB);
      if (b === "v2") {
        const [name, rest] = firstSegment(afterB);
        return viaSupplier(req, name, rest);
      }
      if (b === "v1") {
        const name = req.headers.get("supplier");
        if (name) return viaSupplier(req, name, "/chat/completions");
        return Promise.resolve(passthroughErrorResponse(
          new PassthroughError(
            400,
            "missing_supplier",
            "Key-prefixed /v1/chat/completions needs a supplier header.",
          ),
        ));
      }
      return viaGeneric(req, b, afterB);
    },

    supplier(req) {
      const pt = deps.state().config.passthrough;
      if (!pt.enabled) return undefined;
      if (pt.require_auth) {
        return Promise.resolve(passthroughErrorResponse(
          new PassthroughError(
            401,
            "gateway_key_required",
            "Supplier routing needs the gateway key in the path: /{gatewayKey}/v1/chat/completions or /{gatewayKey}/v2/{supplier}/...",
          ),
        ));
      }
      return viaSupplier(req, req.headers.get("supplier") ?? "", "/chat/completions");
    },
  };
}

/**
 * The query as sent, byte for byte, minus parameters carrying a gateway secret (`?key=`):
 * the raw pairs are kept so the upstream sees the client's own encoding.
 */
function cleanQuery(search: string, secrets: readonly string[]): string {
  if (search.length < 2 || secrets.length === 0) return search;
  const pairs = search.slice(1).split("&");
  const kept = pairs.filter((pair) => {
    const raw = pair.slice(pair.indexOf("=") + 1 || pair.length);
    let value: string;
    try {
      value = decodeURIComponent(raw.replace(/\+/g, " "));
    } catch {
      value = raw;
    }
    return !secrets.includes(value);
  });
  if (kept.length === pairs.length) return search;
  return kept.length ? `?${kept.join("&")}` : "";
}

/** The body, bounded like the gateway's own routes' (413, and 408 when it stops arriving). */
async function readBody(
  req: Request,
  limits: Config["limits"],
): Promise<Uint8Array | undefined> {
  if (req.method === "GET" || req.method === "HEAD" || req.body === null) return undefined;
  try {
    return await readBodyBytes(req, limits.max_body_bytes, {
      idleTimeoutMs: limits.body_idle_timeout_ms,
    });
  } catch (err) {
    if (!(err instanceof RequestError)) throw err;
    const code = err.status === 413
      ? "too_large"
      : err.status === 408
      ? "body_timeout"
      : "bad_body";
    throw new PassthroughError(err.status, code, err.message);
  }
}

function asPassthroughError(err: unknown): PassthroughError {
  if (err instanceof PassthroughError) return err;
  if (err instanceof ExchangeError) return new PassthroughError(err.status, err.code, err.message);
  if (err instanceof BlockedAddressError) {
    return new PassthroughError(403, "target_forbidden", err.message);
  }
  if (err instanceof UnresolvableHostError) {
    return new PassthroughError(502, "upstream_unresolvable", err.message);
  }
  return new PassthroughError(502, "upstream_failed", "The upstream exchange failed.");
}
