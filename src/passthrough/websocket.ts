import { createHash } from "node:crypto";
import { type IncomingMessage, request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import { bodyStream, pinnedLookup, type ResolvedAddress } from "../http/raw_exchange.ts";
import { PassthroughError } from "./errors.ts";
import { headerRecord, inboundResponseHeaders } from "./headers.ts";
import { closePayload, encodeFrame, FrameDecoder, FrameError, OPCODE } from "./ws_frames.ts";

/**
 * WebSocket relay. The upstream handshake is done first, over node:http with exactly the
 * client's sanitised headers (Deno's WebSocket client would add its own user-agent) and to the
 * addresses the SSRF guard checked; an upstream that answers without upgrading has its answer
 * relayed as it is (a 401 stays a 401). Then the client's connection is upgraded with the
 * subprotocol the upstream chose, and messages (text and binary) flow both ways until either
 * side closes, which closes the other.
 */

/** Largest single message relayed from the upstream. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Upstream messages kept while the client's side finishes its handshake. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
/** How long the upstream gets to answer our close before its socket is dropped. */
const CLOSE_GRACE_MS = 2000;
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Requested subprotocols, in the client's order of preference. */
function requestedProtocols(req: Request): string[] {
  return (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim())
    .filter((p) => p !== "");
}

interface OpenedUpstream {
  socket: Duplex;
  head: Uint8Array;
  protocol: string;
}

/**
 * Performs the upstream handshake. Resolves with the open socket, or with the upstream's own
 * non-101 answer; fails with 502 (unreachable or a bad handshake) or 504 (no answer in time).
 */
function openUpstream(
  target: URL,
  options: {
    protocols: string[];
    headers: readonly [string, string][];
    addresses?: readonly ResolvedAddress[];
    timeoutMs: number;
    signal: AbortSignal;
  },
): Promise<OpenedUpstream | Response> {
  return new Promise((resolve, reject) => {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const headers = headerRecord(options.headers);
    headers.host = target.host;
    headers.connection = "Upgrade";
    headers.upgrade = "websocket";
    headers["sec-websocket-version"] = "13";
    headers["sec-websocket-key"] = key;
    if (options.protocols.length) headers["sec-websocket-protocol"] = options.protocols.join(", ");
    const secure = target.protocol === "https:" || target.protocol === "wss:";
    const request: RequestOptions = {
      method: "GET",
      hostname: target.hostname.replace(/^\[|\]$/g, ""),
      port: target.port || undefined,
      path: (target.pathname || "/") + target.search,
      headers,
      agent: false,
      ...(options.addresses ? { lookup: pinnedLookup(options.addresses) } : {}),
    };
    const req = (secure ? httpsRequest : httpRequest)(request);
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
      return true;
    };
    const fail = (err: PassthroughError): void => {
      if (!settle()) return;
      req.destroy();
      reject(err);
    };
    const onAbort = (): void =>
      fail(new PassthroughError(499, "client_gone", "The client went away."));
    const timer = setTimeout(() =>
      fail(
        new PassthroughError(
          504,
          "upstream_timeout",
          `Upstream ${target.host} did not answer the WebSocket handshake within ${options.timeoutMs} ms.`,
        ),
      ), options.timeoutMs);
    options.signal.addEventListener("abort", onAbort, { once: true });
    const badHandshake = (): PassthroughError =>
      new PassthroughError(
        502,
        "upstream_bad_handshake",
        `Upstream ${target.host} answered the WebSocket handshake wrongly.`,
      );
    req.on("error", () =>
      fail(
        new PassthroughError(
          502,
          "upstream_unreachable",
          `Upstream ${target.host} is unreachable.`,
        ),
      ));
    req.on("upgrade", (res: IncomingMessage, socket: Duplex, head: Uint8Array) => {
      const expected = createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
      const protocol = headerValue(res, "sec-websocket-protocol");
      const valid = res.statusCode === 101 &&
        headerValue(res, "sec-websocket-accept") === expected &&
        headerValue(res, "sec-websocket-extensions") === "" &&
        (protocol === "" || options.protocols.includes(protocol));
      if (!valid) {
        socket.destroy();
        fail(badHandshake());
        return;
      }
      if (!settle()) {
        socket.destroy();
        return;
      }
      resolve({ socket, head, protocol });
    });
    req.on("response", (res: IncomingMessage) => {
      if (!settle()) {
        res.destroy();
        return;
      }
      const status = res.statusCode ?? 502;
      if (status < 200 || status > 599) {
        res.destroy();
        reject(badHandshake());
        return;
      }
      resolve(
        new Response(status === 204 || status === 304 ? null : bodyStream(res, () => {}), {
          status,
          statusText: res.statusMessage,
          headers: inboundResponseHeaders(res.rawHeaders),
        }),
      );
    });
    req.end();
  });
}

function headerValue(res: IncomingMessage, name: string): string {
  const v = res.headers[name];
  return (Array.isArray(v) ? v.join(", ") : v ?? "").trim();
}

/**
 * Close codes Deno's WebSocket lets the gateway send to its client (1000, 3000–4999); for
 * other codes (1001, 1011, 1006, ...) the client gets a plain close without a code.
 */
function closeClient(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  try {
    if (code === 1000 || (code >= 3000 && code <= 4999)) ws.close(code, reason);
    else ws.close();
  } catch {
    ws.close();
  }
}

/**
 * Relays a WebSocket upgrade request to `target` (its http(s)/ws(s) scheme picks TLS or not).
 * `headers` are the client's sanitised headers without the handshake's own.
 */
export async function relayWebSocket(
  req: Request,
  target: URL,
  options: {
    headers: readonly [string, string][];
    timeoutMs: number;
    addresses?: readonly ResolvedAddress[];
  },
): Promise<Response> {
  const opened = await openUpstream(target, {
    protocols: requestedProtocols(req),
    headers: options.headers,
    addresses: options.addresses,
    timeoutMs: options.timeoutMs,
    signal: req.signal,
  });
  if (opened instanceof Response) return opened;
  const { socket: upstream, head, protocol } = opened;
  let upgrade: Deno.WebSocketUpgrade;
  try {
    upgrade = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
  } catch {
    upstream.destroy();
    throw new PassthroughError(400, "bad_upgrade", "Expected a WebSocket upgrade request.");
  }
  const client = upgrade.socket;
  client.binaryType = "arraybuffer";

  const frames = new FrameDecoder(MAX_MESSAGE_BYTES);
  const pending: (string | Uint8Array<ArrayBuffer>)[] = [];
  let pendingBytes = 0;
  /** How the upstream ended, kept until the client's side is open to be told. */
  let ended: { code: number; reason: string } | undefined;
  let closeSent = false;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;

  const toUpstream = (opcode: number, payload: Uint8Array): void => {
    if (!closeSent && !upstream.destroyed) upstream.write(encodeFrame(opcode, payload));
  };
  const closeUpstream = (code: number | undefined, reason: string): void => {
    if (closeSent || upstream.destroyed) return;
    toUpstream(OPCODE.close, closePayload(code, reason));
    closeSent = true;
    // The upstream should answer with its own close and hang up; if it does not, drop it.
    graceTimer = setTimeout(() => upstream.destroy(), CLOSE_GRACE_MS);
  };
  const endClient = (code: number, reason: string): void => {
    ended ??= { code, reason };
    if (client.readyState === WebSocket.OPEN) closeClient(client, code, reason);
  };
  const deliver = (data: string | Uint8Array<ArrayBuffer>): void => {
    if (client.readyState === WebSocket.OPEN) {
      client.send(data);
      return;
    }
    pendingBytes += typeof data === "string" ? data.length * 3 : data.byteLength;
    if (pendingBytes > MAX_PENDING_BYTES) {
      closeUpstream(1009, "");
      endClient(1009, "");
      return;
    }
    pending.push(data);
  };
  const onBytes = (chunk: Uint8Array): void => {
    let messages;
    try {
      messages = frames.push(chunk);
    } catch (err) {
      const code = err instanceof FrameError ? err.closeCode : 1002;
      closeUpstream(code, "");
      endClient(code, "");
      return;
    }
    for (const m of messages) {
      if (m.kind === "text" || m.kind === "binary") deliver(m.data);
      else if (m.kind === "ping") toUpstream(OPCODE.pong, m.data);
      else if (m.kind === "close") {
        closeUpstream(m.code, m.reason);
        upstream.end();
        endClient(m.code, m.reason);
      }
    }
  };

  upstream.on("data", onBytes);
  upstream.on("error", () => {});
  upstream.on("close", () => {
    clearTimeout(graceTimer);
    // Gone without a close frame: an abnormal end (1006) for the client.
    endClient(1006, "");
  });
  if (head.byteLength > 0) onBytes(head);

  client.onopen = () => {
    for (const data of pending.splice(0)) client.send(data);
    pendingBytes = 0;
    if (ended) closeClient(client, ended.code, ended.reason);
  };
  client.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
    if (typeof e.data === "string") toUpstream(OPCODE.text, new TextEncoder().encode(e.data));
    else toUpstream(OPCODE.binary, new Uint8Array(e.data));
  };
  client.onclose = (e: CloseEvent) => closeUpstream(e.code, e.reason);
  client.onerror = () => closeUpstream(1006, "");
  return upgrade.response;
}
