/** The API host Qwen assigns when an account's credential names none. */
export const QWEN_DEFAULT_RESOURCE_URL = "portal.qwen.ai";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * A Qwen `resource_url` → the OpenAI-compatible base URL without a trailing slash.
 * The credential and the token endpoint give it as a bare host (`portal.qwen.ai`), sometimes
 * with a scheme or a `/v1` suffix; as qwen-code does, a missing scheme means https and `/v1`
 * is appended once. It decides where the access token is sent, so only an https origin (http
 * for loopback) with an optional path is accepted: no credentials, query or fragment.
 */
export function qwenApiBaseUrl(resourceUrl: string | undefined): string {
  const raw = (resourceUrl ?? "").trim() || QWEN_DEFAULT_RESOURCE_URL;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidResourceUrlError();
  }
  // Plain http only to loopback (local proxies, tests): the bearer token must not travel in clear.
  const insecureOk = url.protocol === "http:" && LOOPBACK.has(url.hostname);
  if (
    (url.protocol !== "https:" && !insecureOk) || url.username !== "" || url.password !== "" ||
    url.search !== "" || url.hash !== "" || url.hostname === ""
  ) {
    throw new InvalidResourceUrlError();
  }
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.origin}${path.endsWith("/v1") ? path : `${path}/v1`}`;
}

/** The resource_url is not a usable API host; the message never echoes it. */
export class InvalidResourceUrlError extends Error {
  constructor() {
    super("resource_url must be a host name or an https URL without credentials or query");
    this.name = "InvalidResourceUrlError";
  }
}
