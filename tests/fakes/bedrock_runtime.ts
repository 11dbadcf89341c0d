/**
 * A fake Amazon Bedrock runtime on 127.0.0.1 for Claude models, speaking the real wire format:
 * `POST /model/{modelId}/invoke` (an Anthropic Message JSON) and
 * `/invoke-with-response-stream` (AWS binary event-stream frames, each `chunk` carrying one
 * base64 Anthropic stream event), AWS error bodies (`{"message"}` with `x-amzn-ErrorType`).
 * Like AWS it checks the SigV4 signature: it recomputes it with aws4fetch from the request it
 * received and the secret it knows for the access key, and refuses unknown or revoked keys
 * (UnrecognizedClientException), wrong signatures (InvalidSignatureException), stale dates,
 * and bodies Bedrock refuses (no `anthropic_version: "bedrock-2023-05-31"`, a `model` or
 * `stream` key in the body). Once unwrapped, the Messages body is answered by the fake
 * Anthropic API's own logic, so every model-named behaviour there works here too, plus:
 * - `*-throttle`: 429 ThrottlingException; `*-quota`: 400 ServiceQuotaExceededException
 * - `*-throttle-midstream`: a few chunks, then a `throttlingException` exception message
 */
import { AwsV4Signer } from "aws4fetch";
import { eventStreamCodec } from "../../src/upstreams/bedrock/event_stream.ts";
import { answerAnthropicMessages } from "./anthropic_upstream.ts";

export interface FakeAwsKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RecordedBedrockRequest {
  path: string;
  modelId: string;
  stream: boolean;
  accessKeyId: string;
  headers: Headers;
  body: Record<string, unknown>;
}

export interface FakeBedrock {
  url: string;
  region: string;
  /** Accepted (correctly signed) requests. */
  requests: RecordedBedrockRequest[];
  /** Requests refused for their signature or key. */
  refused: { accessKeyId: string; reason: string }[];
  /** Makes a key unknown, as deleting it in IAM does. */
  revoke(accessKeyId: string): void;
  cancelledStreams: number;
  abortedRequests: number;
  /**
   * Body fields beyond the Messages API's own that this fake accepts: `anthropic_beta`, which
   * Bedrock takes in the body, and whatever a test adds (a newer API).
   */
  extraParams: Set<string>;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** A key pair shaped like AWS's (20-character id, 40-character secret). */
export function fakeAwsKey(n: number, sessionToken?: string): FakeAwsKey {
  const id = `AKIAFAKE${String(n).padStart(12, "0")}`;
  const secret = `fakeSecret/${String(n).padStart(4, "0")}+abcdefghijklmnopqrstuvw`.slice(0, 40);
  return { accessKeyId: id, secretAccessKey: secret, ...(sessionToken ? { sessionToken } : {}) };
}

export function startFakeBedrock(
  options: { keys: FakeAwsKey[]; region?: string },
): Promise<FakeBedrock> {
  const keys = new Map(options.keys.map((k) => [k.accessKeyId, k]));
  const region = options.region ?? "us-east-1";
  const state: FakeBedrock = {
    url: "",
    region,
    requests: [],
    refused: [],
    revoke: (id) => void keys.delete(id),
    cancelledStreams: 0,
    abortedRequests: 0,
    extraParams: new Set(["anthropic_beta"]),
    close: () => Promise.resolve(),
  };
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.close = async () => await server.shutdown();
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      const rawBody = req.method === "POST" ? await req.text() : "";
      const denied = await checkSignature(req, rawBody, keys, region);
      if (denied) {
        state.refused.push({ accessKeyId: denied.accessKeyId, reason: denied.type });
        return awsError(403, denied.type, denied.message);
      }
      const accessKeyId = credentialOf(req)?.accessKeyId ?? "";
      const route = url.pathname.match(/^\/model\/([^/]+)\/(invoke|invoke-with-response-stream)$/);
      if (req.method !== "POST" || !route) {
        return awsError(404, "UnknownOperationException", `Unknown operation ${url.pathname}`);
      }
      const modelId = decodeURIComponent(route[1]);
      const stream = route[2] === "invoke-with-response-stream";
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(rawBody);
      } catch {
        return awsError(400, "ValidationException", "Malformed input request, please reformat.");
      }
      state.requests.push({
        path: url.pathname,
        modelId,
        stream,
        accessKeyId,
        headers: req.headers,
        body,
      });
      if (body.anthropic_version !== "bedrock-2023-05-31") {
        return awsError(
          400,
          "ValidationException",
          "Malformed input request: #: required key [anthropic_version] not found",
        );
      }
      for (const key of ["model", "stream"]) {
        if (key in body) {
          return awsError(
            400,
            "ValidationException",
            `Malformed input request: #: extraneous key [${key}] is not permitted`,
          );
        }
      }
      if (modelId.endsWith("-throttle")) {
        return awsError(429, "ThrottlingException", "Too many requests, please wait.");
      }
      if (modelId.endsWith("-quota")) {
        return awsError(400, "ServiceQuotaExceededException", "Quota exceeded for model.");
      }
      const { anthropic_version: _v, ...messages } = body;
      const answer = await answerAnthropicMessages(
        { ...messages, model: modelId.replace(/-throttle-midstream$/, ""), stream },
        req,
        state,
      );
      if (!answer.ok) {
        const err = await answer.json() as { error?: { type?: string; message?: string } };
        const type = answer.status === 400 ? "ValidationException" : "InternalServerException";
        return awsError(answer.status, type, err.error?.message ?? "error");
      }
      if (!stream) {
        return new Response(await answer.text(), {
          headers: { "content-type": "application/json", "x-amzn-requestid": crypto.randomUUID() },
        });
      }
      const events = sseData(await answer.text());
      const frames = events.map(chunkFrame);
      if (modelId.endsWith("-throttle-midstream")) {
        frames.splice(
          3,
          frames.length - 3,
          exceptionFrame(
            "throttlingException",
            "Too many tokens, please wait before trying again.",
          ),
        );
      }
      return eventStreamResponse(frames, state);
    });
  });
}

/** The Anthropic SSE answer's `data` payloads, in order. */
function sseData(text: string): string[] {
  return text.split("\n\n").flatMap((block) => {
    const line = block.split("\n").find((l) => l.startsWith("data: "));
    return line ? [line.slice(6)] : [];
  });
}

function b64(text: string): string {
  let bin = "";
  for (const byte of encoder.encode(text)) bin += String.fromCharCode(byte);
  return btoa(bin);
}

/** One `chunk` event as Bedrock frames it. */
export function chunkFrame(anthropicEvent: string): Uint8Array {
  return eventStreamCodec.encode({
    headers: {
      ":message-type": { type: "string", value: "event" },
      ":event-type": { type: "string", value: "chunk" },
      ":content-type": { type: "string", value: "application/json" },
    },
    body: encoder.encode(JSON.stringify({ bytes: b64(anthropicEvent), p: "abcdefgh" })),
  });
}

/** A modelled exception in the stream (e.g. `throttlingException`). */
export function exceptionFrame(type: string, message: string): Uint8Array {
  return eventStreamCodec.encode({
    headers: {
      ":message-type": { type: "string", value: "exception" },
      ":exception-type": { type: "string", value: type },
      ":content-type": { type: "string", value: "application/json" },
    },
    body: encoder.encode(JSON.stringify({ message })),
  });
}

/** Frames written in two halves each, so a reader must reassemble messages across reads. */
function eventStreamResponse(frames: Uint8Array[], state: FakeBedrock): Response {
  const pieces = frames.flatMap((f) => {
    const mid = Math.floor(f.byteLength / 2);
    return [f.subarray(0, mid), f.subarray(mid)];
  });
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i >= pieces.length) return controller.close();
      controller.enqueue(pieces[i++]);
      await new Promise((r) => setTimeout(r, 1));
    },
    cancel() {
      state.cancelledStreams++;
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "application/vnd.amazon.eventstream",
      "x-amzn-bedrock-content-type": "application/json",
    },
  });
}

function awsError(status: number, type: string, message: string): Response {
  return new Response(JSON.stringify({ message }), {
    status,
    headers: {
      "content-type": "application/json",
      "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    },
  });
}

interface ParsedAuth {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function credentialOf(req: Request): ParsedAuth | undefined {
  const auth = req.headers.get("authorization") ?? "";
  const m = auth.match(
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/,
  );
  if (!m) return undefined;
  return {
    accessKeyId: m[1],
    date: m[2],
    region: m[3],
    service: m[4],
    signedHeaders: m[5].split(";"),
    signature: m[6],
  };
}

/** AWS's checks, in AWS's order; undefined when the request is correctly signed. */
async function checkSignature(
  req: Request,
  body: string,
  keys: Map<string, FakeAwsKey>,
  region: string,
): Promise<{ accessKeyId: string; type: string; message: string } | undefined> {
  const auth = credentialOf(req);
  if (!auth) {
    return {
      accessKeyId: "",
      type: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    };
  }
  const key = keys.get(auth.accessKeyId);
  const refuse = (type: string, message: string) => ({
    accessKeyId: auth.accessKeyId,
    type,
    message,
  });
  if (!key) {
    return refuse(
      "UnrecognizedClientException",
      "The security token included in the request is invalid.",
    );
  }
  if ((req.headers.get("x-amz-security-token") ?? undefined) !== key.sessionToken) {
    return refuse(
      "UnrecognizedClientException",
      "The security token included in the request is invalid.",
    );
  }
  if (auth.service !== "bedrock" || auth.region !== region) {
    return refuse(
      "InvalidSignatureException",
      `Credential should be scoped to a valid region and service 'bedrock' in '${region}'.`,
    );
  }
  const amzDate = req.headers.get("x-amz-date") ?? "";
  const when = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"),
  );
  if (!Number.isFinite(when) || Math.abs(Date.now() - when) > 5 * 60_000) {
    return refuse("InvalidSignatureException", "Signature expired or date missing.");
  }
  if (!auth.signedHeaders.includes("host") || !auth.signedHeaders.includes("x-amz-date")) {
    return refuse("InvalidSignatureException", "host and x-amz-date must be signed.");
  }
  // Recompute with the same library from what arrived: only the headers the client signed.
  const headers = new Headers();
  for (const name of auth.signedHeaders) {
    if (name !== "host") headers.set(name, req.headers.get(name) ?? "");
  }
  const expected = await new AwsV4Signer({
    method: req.method,
    url: req.url,
    headers,
    body,
    accessKeyId: key.accessKeyId,
    secretAccessKey: key.secretAccessKey,
    service: "bedrock",
    region,
    datetime: amzDate,
  }).signature();
  if (expected !== auth.signature) {
    return refuse(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided.",
    );
  }
  return undefined;
}
