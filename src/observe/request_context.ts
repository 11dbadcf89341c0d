import { AsyncLocalStorage } from "node:async_hooks";

/** What every log line of one request carries. */
export interface RequestScope {
  id: string;
  /** The caller's identity id (`key-<hash>` or `addr:<ip>`), once the route guard resolved it. */
  client?: string;
}

const scope = new AsyncLocalStorage<RequestScope>();
// Ids are a per-process prefix plus a counter: unique enough, and far cheaper than a UUID.
const BOOT = crypto.randomUUID().slice(0, 8);
let counter = 0;

/** A client-chosen id is kept when it is short and plain, so callers can correlate logs. */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The current request's id, or undefined outside a request. */
export function currentRequestId(): string | undefined {
  return scope.getStore()?.id;
}

/** The current request's client identity id, or undefined (outside a request, or unresolved). */
export function currentRequestClient(): string | undefined {
  return scope.getStore()?.client;
}

/** Records the caller's identity id for the current request's log lines and log entry. */
export function bindRequestClient(client: string): void {
  const current = scope.getStore();
  if (current) current.client = client;
}

/** A fresh request id. */
export function newRequestId(): string {
  return `${BOOT}-${(++counter).toString(36)}`;
}

/**
 * Wraps a fetch handler so each request runs with its id in scope (for log lines) and every
 * answer carries it in `x-request-id`. A sane incoming `x-request-id` is kept.
 */
export function withRequestId<Info>(
  handler: (req: Request, info?: Info) => Response | Promise<Response>,
): (req: Request, info?: Info) => Promise<Response> {
  return (req, info) => {
    const incoming = req.headers.get("x-request-id");
    const id = incoming !== null && SANE_ID.test(incoming) ? incoming : newRequestId();
    return scope.run({ id }, async () => tagged(await handler(req, info), id));
  };
}

function tagged(res: Response, id: string): Response {
  try {
    res.headers.set("x-request-id", id);
    return res;
  } catch {
    // Immutable headers (a relayed fetch answer, a WebSocket upgrade): rebuild around the body.
    if (res.status === 101) return res;
    const out = new Response(res.body, res);
    out.headers.set("x-request-id", id);
    return out;
  }
}
