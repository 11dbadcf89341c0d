import type {
  IrImagePart,
  IrOrigin,
  IrPart,
  IrTextPart,
  IrToolResultPart,
  JsonObject,
  JsonValue,
} from "../../ir/types.ts";
import { decodeCarried, encodeCarried, ReasoningCarrier } from "../signature_carrier.ts";
import type { GeminiPart, GeminiWirePart } from "./schema.ts";

/**
 * Part-level mappings shared by the request and response directions: model turns (text,
 * thoughts, function calls with their thoughtSignatures) and tool results.
 *
 * Signatures: Gemini puts `thoughtSignature` on any part. A signature on a thought or a function
 * call maps to that IR part; one on a plain text part (or on an empty part of its own) becomes an
 * empty IR reasoning part right before the text, since IR text parts carry no signature. Going
 * back, an empty signed reasoning part lends its signature to the next part, which restores the
 * original shape.
 */

/** Tool-call arguments (JSON text) → the `args` object Gemini wants. */
export function argsFromJson(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      return v as Record<string, unknown>;
    }
    return { value: v };
  } catch {
    // Unparseable arguments cannot be expressed as an object; the tool then reports the problem.
    return {};
  }
}

/** How `irModelParts` writes model parts: for a Gemini client, or for a Gemini upstream. */
export interface ModelPartsOptions {
  /**
   * `client`: reasoning from another family is shown as thought text, and its signature (a
   * Claude thinking block) rides, tagged, in the thoughtSignature of the next function call,
   * which Gemini clients hand back (see signature_carrier.ts). `upstream`: foreign reasoning is
   * dropped and function calls carry their ids (Gemini pairs responses by id).
   */
  side: "client" | "upstream";
}

/**
 * The thoughtSignature for a function call: its own Gemini signature, or (for a client) a
 * tagged value carrying foreign signatures; undefined when there is none.
 */
export function callSignature(
  own: { signature?: string; origin?: IrOrigin },
  carrier: ReasoningCarrier | undefined,
): string | undefined {
  const gemini = own.origin === "gemini" ? own.signature : undefined;
  if (!carrier) return gemini;
  const carried = carrier.take(own.signature, own.origin);
  if (carried.reasoning === undefined && (gemini !== undefined || own.signature === undefined)) {
    return gemini;
  }
  return encodeCarried(carried);
}

/**
 * IR assistant parts → Gemini model parts. Only Gemini signatures go on parts as they are
 * (others cannot validate there); reasoning from another family is shown as thought text for
 * a client, its signature carried by the next function call, and dropped for an upstream.
 */
export function irModelParts(parts: IrPart[], options: ModelPartsOptions): GeminiWirePart[] {
  const client = options.side === "client";
  const carrier = client ? new ReasoningCarrier() : undefined;
  const out: GeminiWirePart[] = [];
  let pending: string | undefined;
  const sign = (part: GeminiWirePart, own?: string): GeminiWirePart => {
    const sig = own ?? pending;
    if (sig !== undefined) part.thoughtSignature = sig;
    if (own === undefined) pending = undefined;
    return part;
  };
  for (const part of parts) {
    switch (part.type) {
      case "reasoning": {
        const gemini = part.origin === "gemini";
        carrier?.part(part);
        if (!gemini && !client) break;
        const signature = gemini ? part.signature : undefined;
        if (part.text === "") {
          if (signature !== undefined) pending = signature;
          break;
        }
        out.push(sign({ text: part.text, thought: true }, signature));
        break;
      }
      case "text":
        if (part.text !== "") out.push(sign({ text: part.text }));
        break;
      case "tool_call": {
        const call: NonNullable<GeminiWirePart["functionCall"]> = {
          name: part.name,
          args: argsFromJson(part.arguments),
        };
        if (!client) call.id = part.id;
        out.push(sign({ functionCall: call }, callSignature(part, carrier)));
        break;
      }
      case "image":
        if (part.source.kind === "base64") {
          out.push(
            sign({ inlineData: { mimeType: part.source.mediaType, data: part.source.data } }),
          );
        }
        break;
      default:
        break;
    }
  }
  if (pending !== undefined) {
    // A trailing signature (Gemini sends one on a final empty part) rides on the last part.
    const last = out.at(-1);
    if (last && last.thoughtSignature === undefined) last.thoughtSignature = pending;
    else out.push({ text: "", thoughtSignature: pending });
  }
  return out;
}

/** Creates tool-call ids for Gemini function calls, which carry none on the wire. */
export interface CallIdSource {
  next(name: string, explicit?: string | null): string;
}

/** Unique, unguessable-enough ids for calls in a fresh answer (ids must not repeat across turns). */
export function randomCallIds(): CallIdSource {
  return {
    next: (_name, explicit) =>
      explicit ? explicit : `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
  };
}

/** Characters other formats accept in ids (Anthropic: `^[A-Za-z0-9_-]+$`). */
export function idSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}

/**
 * Gemini model-turn part → IR parts (text, reasoning, tool call). Returns [] for parts with
 * nothing to say (empty text without signature, unknown kinds).
 */
export function geminiModelPartToIr(part: GeminiPart, ids: CallIdSource): IrPart[] {
  const raw = part.thoughtSignature ?? undefined;
  // A value this gateway tagged is not Gemini's (the caller unpacks it: `carriedSignature`).
  const signature = raw !== undefined && decodeCarried(raw) === undefined ? raw : undefined;
  if (part.functionCall) {
    const call = part.functionCall;
    return [{
      type: "tool_call",
      id: ids.next(call.name, call.id),
      name: call.name,
      arguments: JSON.stringify(call.args ?? {}),
      ...(signature !== undefined ? { signature, origin: "gemini" as const } : {}),
    }];
  }
  const out: IrPart[] = [];
  const text = part.text ?? textOfCodePart(part);
  if (part.thought === true) {
    out.push({
      type: "reasoning",
      text: text ?? "",
      ...(signature !== undefined ? { signature } : {}),
      origin: "gemini",
    });
    return out;
  }
  if (signature !== undefined) {
    out.push({ type: "reasoning", text: "", signature, origin: "gemini" });
  }
  if (text !== undefined && text !== "") out.push({ type: "text", text });
  else if (part.inlineData) {
    out.push({
      type: "image",
      source: { kind: "base64", mediaType: part.inlineData.mimeType, data: part.inlineData.data },
    });
  }
  return out;
}

/** Code execution parts (from the dropped codeExecution tool) are kept as readable text. */
function textOfCodePart(part: GeminiPart): string | undefined {
  if (part.executableCode?.code) {
    return `\`\`\`${
      (part.executableCode.language ?? "").toLowerCase()
    }\n${part.executableCode.code}\n\`\`\``;
  }
  if (part.codeExecutionResult) return part.codeExecutionResult.output ?? undefined;
  return undefined;
}

/** Gemini user-turn media part → IR image (non-image media keep their media type). */
export function geminiMediaToIr(part: GeminiPart): IrImagePart | undefined {
  if (part.inlineData) {
    return {
      type: "image",
      source: { kind: "base64", mediaType: part.inlineData.mimeType, data: part.inlineData.data },
    };
  }
  if (part.fileData) return { type: "image", source: { kind: "url", url: part.fileData.fileUri } };
  return undefined;
}

/**
 * A `functionResponse.response` object → IR tool-result content. The usual single-key
 * wrappers (`output` from Gemini CLI, `result`, `content`) unwrap to their text; `error` marks
 * the result as failed; anything else is kept as JSON text.
 */
export function functionResponseToIr(
  response: Record<string, unknown> | null | undefined,
): { content: IrTextPart[]; isError: boolean } {
  if (!response) return { content: [], isError: false };
  const keys = Object.keys(response);
  if (keys.length === 1) {
    const [key] = keys;
    const value = response[key];
    if (typeof value === "string" && ["output", "result", "content", "error"].includes(key)) {
      return {
        content: value === "" ? [] : [{ type: "text", text: value }],
        isError: key === "error",
      };
    }
  }
  return { content: [{ type: "text", text: JSON.stringify(response) }], isError: false };
}

/**
 * IR tool-result content → the `response` object Gemini requires: a JSON object stays as it is,
 * anything else (plain text, arrays, scalars) is wrapped as `{result: ...}`, or `{error: ...}`
 * for a failed call.
 */
export function toolResultToResponse(part: IrToolResultPart): JsonObject {
  const text = part.content.filter((p): p is IrTextPart => p.type === "text").map((p) => p.text)
    .join("\n");
  const key = part.isError ? "error" : "result";
  let value: JsonValue = text;
  try {
    const parsed: JsonValue = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && !part.isError) {
      return parsed;
    }
    if (Array.isArray(parsed)) value = parsed;
  } catch {
    // Plain text.
  }
  return { [key]: value };
}
