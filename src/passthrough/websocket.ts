import { PassthroughError } from "./errors.ts";

/**
 * WebSocket relay: the upstream socket is opened first, so a refusal is a plain HTTP error
 * and the client is told the subprotocol the upstream actually chose; then the client's
 * connection is upgraded and frames (text and binary) flow both ways until either side
 * closes, which closes the other.
 */

/** Upstream messages kept while the client's side finishes its handshake. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

type Frame = string | ArrayBuffer | Blob | ArrayBufferView;

function frameSize(data: Frame): number {
  if (typeof data === "string") return data.length * 3;
  if (data instanceof Blob) return data.size;
  return data.byteLength;
}

/**
 * Close codes the WebSocket API lets an endpoint send (1000, 3000–4999); for other codes
 * (1001, 1011, 1006, ...) the other side gets a plain close without a code.
 */
function closeOther(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  try {
    if (code === 1000 || (code >= 3000 && code <= 4999)) ws.close(code, reason);
    else ws.close();
  } catch {
    ws.close();
  }
}

/** Requested subprotocols, in the client's order of preference. */
function requestedProtocols(req: Request): string[] {
  return (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim())
    .filter((p) => p !== "");
}

/** Opens the upstream socket or fails with 502 (refused) / 504 (no answer in time). */
function connectUpstream(
  target: URL,
  protocols: string[],
  headers: readonly [string, string][],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, { protocols, headers: [...headers] });
    ws.binaryType = "arraybuffer";
    const finish = (err?: PassthroughError): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      ws.onopen = null;
      ws.onerror = null;
      ws.onclose = null;
      if (err) {
        if (ws.readyState !== WebSocket.CLOSED) ws.close();
        reject(err);
      } else resolve(ws);
    };
    const onAbort = (): void =>
      finish(new PassthroughError(499, "client_gone", "The client went away."));
    const timer = setTimeout(
      () =>
        finish(
          new PassthroughError(
            504,
            "upstream_timeout",
            `Upstream ${target.host} did not open the WebSocket within ${timeoutMs} ms.`,
          ),
        ),
      timeoutMs,
    );
    signal.addEventListener("abort", onAbort, { once: true });
    ws.onopen = () => finish();
    const refused = (): void =>
      finish(
        new PassthroughError(
          502,
          "upstream_websocket_refused",
          `Upstream ${target.host} refused the WebSocket connection.`,
        ),
      );
    ws.onerror = refused;
    ws.onclose = refused;
  });
}

/**
 * Relays a WebSocket upgrade request to `target` (ws: or wss:). `headers` are the client's
 * sanitised headers without the handshake's own; subprotocols are passed on.
 */
export async function relayWebSocket(
  req: Request,
  target: URL,
  options: { headers: readonly [string, string][]; timeoutMs: number },
): Promise<Response> {
  const upstream = await connectUpstream(
    target,
    requestedProtocols(req),
    options.headers,
    options.timeoutMs,
    req.signal,
  );
  let upgrade: Deno.WebSocketUpgrade;
  try {
    upgrade = Deno.upgradeWebSocket(
      req,
      upstream.protocol ? { protocol: upstream.protocol } : {},
    );
  } catch {
    upstream.close();
    throw new PassthroughError(400, "bad_upgrade", "Expected a WebSocket upgrade request.");
  }
  const client = upgrade.socket;
  client.binaryType = "arraybuffer";

  const pending: Frame[] = [];
  let pendingBytes = 0;
  upstream.onmessage = (e: MessageEvent<Frame>) => {
    if (client.readyState === WebSocket.OPEN) {
      client.send(e.data);
      return;
    }
    pendingBytes += frameSize(e.data);
    if (pendingBytes > MAX_PENDING_BYTES) {
      closeOther(upstream, 1000, "");
      closeOther(client, 1000, "");
      return;
    }
    pending.push(e.data);
  };
  client.onopen = () => {
    for (const frame of pending.splice(0)) client.send(frame);
    pendingBytes = 0;
    // The upstream may have gone while the client was still connecting.
    if (upstream.readyState === WebSocket.CLOSED) closeOther(client, 1000, "");
  };
  client.onmessage = (e: MessageEvent<Frame>) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.send(e.data);
  };
  upstream.onclose = (e: CloseEvent) => {
    if (client.readyState === WebSocket.OPEN) closeOther(client, e.code, e.reason);
  };
  client.onclose = (e: CloseEvent) => closeOther(upstream, e.code, e.reason);
  // An error is an abnormal end (1006): the other side gets a plain close.
  upstream.onerror = () => closeOther(client, 1006, "");
  client.onerror = () => closeOther(upstream, 1006, "");
  return upgrade.response;
}
