import { z } from "zod";
import type { IrEvent, IrOrigin, IrPart, IrReasoningPart, IrToolCallPart } from "../ir/types.ts";
import { fromBase64Url, toBase64Url } from "./openai_responses/reasoning_envelope.ts";

/**
 * Backend-bound signatures ride through clients whose format has no place for them, statelessly,
 * inside a value those clients hand back unchanged on the next turn:
 *
 * - OpenAI Chat and Anthropic clients: the tool call id (`tool_calls[].id`, `tool_use.id`),
 *   which every client returns twice (on the call and on its result).
 * - Gemini clients: the `thoughtSignature` of the function call, which Gemini clients keep.
 *
 * What rides on a call: its own signature (a Gemini function call's thoughtSignature) and the
 * signed reasoning of another family that came before it in the turn (Claude's thinking blocks,
 * which Anthropic wants back, text and signature, before the tool_use they led to). Gemini's own
 * reasoning is not carried: Gemini validates only the function call's signature.
 *
 * The carried value is tagged (`TAG`) and base64url-encoded, so it is valid in every format
 * (Anthropic ids must match `^[a-zA-Z0-9_-]+$`). A Gemini signature that is plain base64 is
 * only re-spelled in the base64url alphabet (`G` form, no growth); anything else is JSON in
 * base64url (`J` form, about 4/3 of the carried size). Ids grow by the signature's size (a
 * Gemini signature is typically a few hundred characters to a few KB): clients keep ids as
 * opaque strings, and the gateway decodes them on the way in, so upstreams only ever see the
 * bare id (OpenAI caps ids at 40–64 characters).
 */

/** What a tool call carries besides its id. */
export interface Carried {
  /** The call's own signature and the family that made it. */
  signature?: string;
  origin?: IrOrigin;
  /** Signed reasoning of another family that preceded the call. */
  reasoning?: IrReasoningPart[];
}

/** Marks a carried value; base64url characters only, so ids stay valid everywhere. */
const TAG = "lpsig1_";
/** Where the carried value starts inside an id (`<bare id>__<carried value>`). */
const ID_SEPARATOR = `__${TAG}`;

const origin = z.enum(["openai", "anthropic", "gemini"]);
const wireSchema = z.object({
  s: z.string().optional(),
  o: origin.optional(),
  r: z.array(z.object({
    o: origin.optional(),
    t: z.string().optional(),
    s: z.string().optional(),
    d: z.string().optional(),
  })).optional(),
});

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL_BASE64 = /^[A-Za-z0-9_-]*$/;

function hasData(c: Carried): boolean {
  return c.signature !== undefined || (c.reasoning?.length ?? 0) > 0;
}

/** A carried value → `TAG` + form + payload, or undefined when there is nothing to carry. */
export function encodeCarried(c: Carried): string | undefined {
  if (!hasData(c)) return undefined;
  const sig = c.signature;
  if (
    sig !== undefined && sig !== "" && c.origin === "gemini" && !c.reasoning?.length &&
    STD_BASE64.test(sig)
  ) {
    return `${TAG}G${sig.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")}`;
  }
  const wire: z.input<typeof wireSchema> = {};
  if (sig !== undefined) wire.s = sig;
  if (c.origin) wire.o = c.origin;
  if (c.reasoning?.length) {
    wire.r = c.reasoning.map((r) => ({
      ...(r.origin ? { o: r.origin } : {}),
      ...(r.text !== "" ? { t: r.text } : {}),
      ...(r.signature !== undefined ? { s: r.signature } : {}),
      ...(r.redacted !== undefined ? { d: r.redacted } : {}),
    }));
  }
  return `${TAG}J${toBase64Url(JSON.stringify(wire))}`;
}

/** The inverse of `encodeCarried`; undefined when `value` is not a carried value of ours. */
export function decodeCarried(value: string): Carried | undefined {
  if (!value.startsWith(TAG)) return undefined;
  const form = value[TAG.length];
  const payload = value.slice(TAG.length + 1);
  if (!URL_BASE64.test(payload)) return undefined;
  if (form === "G") {
    const std = payload.replaceAll("-", "+").replaceAll("_", "/");
    return { signature: std + "=".repeat((4 - std.length % 4) % 4), origin: "gemini" };
  }
  if (form !== "J") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(fromBase64Url(payload));
  } catch {
    return undefined;
  }
  const parsed = wireSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const wire = parsed.data;
  const out: Carried = {};
  if (wire.s !== undefined) out.signature = wire.s;
  if (wire.o) out.origin = wire.o;
  if (wire.r?.length) {
    out.reasoning = wire.r.map((r) => ({
      type: "reasoning",
      text: r.t ?? "",
      ...(r.s !== undefined ? { signature: r.s } : {}),
      ...(r.d !== undefined ? { redacted: r.d } : {}),
      ...(r.o ? { origin: r.o } : {}),
    }));
  }
  return hasData(out) ? out : undefined;
}

/** The id to show a client for a call that carries `c` (the bare id when nothing rides). */
export function encodeCallId(id: string, c: Carried): string {
  const value = encodeCarried(c);
  return value === undefined ? id : `${id}__${value}`;
}

/** An id a client sent back → the bare id and what it carried. */
export function decodeCallId(id: string): { id: string; carried?: Carried } {
  const at = id.indexOf(ID_SEPARATOR);
  if (at <= 0) return { id };
  const carried = decodeCarried(id.slice(at + 2));
  return carried ? { id: id.slice(0, at), carried } : { id };
}

/** Every tag the gateway puts on values it hands clients (here, Anthropic thinking, Responses). */
const GATEWAY_TAGS = [TAG, "llmproxy."];

/**
 * Whether a client's body (the text its JSON was parsed from) may hold values the gateway
 * tagged (carried signatures, tagged thinking signatures, reasoning envelopes). Such a body
 * must go through the IR, which unpacks them, even to an upstream of the client's own format:
 * forwarded as they are, they would reach that upstream (OpenAI caps tool call ids at 40
 * characters; Anthropic refuses a thinking signature it did not make). A false positive only
 * costs the native shortcut. The text is the one the body parser decoded anyway: V8's string
 * search is native, and bodies reach megabytes.
 */
export function mentionsCarriedText(text: string): boolean {
  for (const tag of GATEWAY_TAGS) if (text.includes(tag)) return true;
  return false;
}

/** Reasoning worth carrying: signed or redacted, and from a family that needs it back. */
function carries(r: IrReasoningPart): boolean {
  return r.origin !== undefined && r.origin !== "gemini" &&
    (r.signature !== undefined || r.redacted !== undefined);
}

/**
 * Collects, while an answer is encoded, the signed reasoning that must ride on the next tool
 * call: whole parts (non-streaming) or reasoning events (streaming; a block's text arrives in
 * deltas and its signature at the end).
 */
export class ReasoningCarrier {
  #text = "";
  #pending: IrReasoningPart[] = [];

  /** A whole reasoning part. */
  part(r: IrReasoningPart): void {
    if (carries(r)) this.#pending.push(r);
  }

  /** A streamed reasoning event. */
  event(e: Extract<IrEvent, { type: "reasoning_delta" }>): void {
    if (e.redacted === undefined) this.#text += e.text;
    if (e.signature === undefined && e.redacted === undefined) return;
    const part: IrReasoningPart = {
      type: "reasoning",
      text: e.redacted === undefined ? this.#text : "",
      ...(e.signature !== undefined ? { signature: e.signature } : {}),
      ...(e.redacted !== undefined ? { redacted: e.redacted } : {}),
      ...(e.origin ? { origin: e.origin } : {}),
    };
    if (e.redacted === undefined) this.#text = "";
    this.part(part);
  }

  /** What rides on the next call (`signature`/`origin` are the call's own), emptying the list. */
  take(signature?: string, origin?: IrOrigin): Carried {
    const out: Carried = {};
    if (signature !== undefined) {
      out.signature = signature;
      if (origin) out.origin = origin;
    }
    if (this.#pending.length > 0) out.reasoning = this.#pending;
    this.#pending = [];
    return out;
  }
}

/**
 * Adds a decoded tool call to an assistant turn being built: the reasoning it carried goes where
 * the model wrote it, before any text since the previous call (Claude writes thinking, text,
 * tool_use), and replaces an unsigned copy the client sent back (`reasoning_content`).
 */
export function pushCarriedCall(
  parts: IrPart[],
  call: IrToolCallPart,
  carried: Carried | undefined,
): void {
  if (carried?.signature !== undefined) {
    call.signature = carried.signature;
    if (carried.origin) call.origin = carried.origin;
  }
  const reasoning = carried?.reasoning ?? [];
  if (reasoning.length > 0) {
    const texts = new Set(reasoning.map((r) => r.text));
    for (let i = parts.length - 1; i >= 0; i--) {
      const p = parts[i];
      if (
        p.type === "reasoning" && p.signature === undefined && p.redacted === undefined &&
        texts.has(p.text)
      ) parts.splice(i, 1);
    }
    let at = parts.length;
    while (at > 0 && parts[at - 1].type !== "tool_call") at--;
    parts.splice(at, 0, ...reasoning);
  }
  parts.push(call);
}
