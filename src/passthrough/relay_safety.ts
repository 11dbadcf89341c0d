import { PassthroughError } from "./errors.ts";

/** Statuses that make a browser follow `Location`. */
const REDIRECT_STATUSES = new Set([300, 301, 302, 303, 307, 308]);

/**
 * Keeps relayed content from acting on the gateway's origin, where the dashboard keeps the
 * admin token: whatever the upstream sent, the answer runs sandboxed in an opaque origin (no
 * scripts, no storage, no cookies through `document.cookie`) and is never content-sniffed into
 * HTML. A redirect is refused rather than handed back, since a browser would follow it from the
 * gateway's origin (an open redirect); `Refresh`, a header-borne redirect, is dropped.
 */
export async function confineRelayed(res: Response, upstream: URL): Promise<Response> {
  if (res.status === 101) return res;
  const location = res.headers.get("location");
  if (REDIRECT_STATUSES.has(res.status) && location !== null) {
    await res.body?.cancel().catch(() => {});
    let target = location;
    try {
      target = new URL(location, upstream).href;
    } catch {
      // Unparsable: named as sent.
    }
    throw new PassthroughError(
      502,
      "upstream_redirect",
      `Upstream answered ${res.status} redirecting to ${target}; the relay does not hand ` +
        "redirects back (they would redirect from the gateway's origin). Call that URL instead.",
    );
  }
  return withRelayHeaders(res);
}

/** Sets the sandbox headers on an answer (relayed or the relay's own error). */
export function withRelayHeaders(res: Response): Response {
  res.headers.set("content-security-policy", "sandbox");
  res.headers.set("x-content-type-options", "nosniff");
  res.headers.delete("refresh");
  return res;
}
