import type { IrEvent, IrRequest, IrResponse, IrUsage } from "../../ir/types.ts";
import type { CallContext, Upstream } from "../types.ts";

/**
 * The labelled demo upstream: answers with the last user message, word by word when streaming,
 * so a newcomer sees the whole path work before adding real keys. It never calls the network.
 */
export const echoUpstream: Upstream = {
  type: "echo",

  send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const text = echoText(req);
    return Promise.resolve({
      id: newId(),
      model: ctx.model,
      created: Math.floor(Date.now() / 1000),
      content: [{ type: "text", text }],
      finishReason: "stop",
      usage: estimateUsage(req, text),
    });
  },

  stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const text = echoText(req);
    // Words keep their trailing whitespace so the deltas concatenate back to the exact text.
    const words = text.match(/\S+\s*|\s+/g) ?? [];
    let i = -1;
    return Promise.resolve(
      new ReadableStream<IrEvent>({
        pull(controller) {
          if (ctx.signal.aborted) return controller.close();
          if (i === -1) {
            controller.enqueue({
              type: "start",
              id: newId(),
              model: ctx.model,
              created: Math.floor(Date.now() / 1000),
            });
          } else if (i < words.length) {
            controller.enqueue({ type: "text_delta", text: words[i] });
          } else {
            controller.enqueue({ type: "finish", reason: "stop", usage: estimateUsage(req, text) });
            controller.close();
          }
          i++;
        },
      }),
    );
  },
};

/** The text of the last user message, or a hint when there is none. */
export function echoText(req: IrRequest): string {
  for (let m = req.messages.length - 1; m >= 0; m--) {
    const msg = req.messages[m];
    if (msg.role !== "user") continue;
    const text = msg.parts.map((p) => (p.type === "text" ? p.text : "")).join("");
    if (text !== "") return text;
  }
  return "(echo: the last user message had no text)";
}

function newId(): string {
  return `echo-${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

// About four characters a token: the usual rough estimate, good enough for a demo.
function estimateUsage(req: IrRequest, text: string): IrUsage {
  let chars = 0;
  for (const msg of req.messages) {
    for (const p of msg.parts) if (p.type === "text") chars += p.text.length;
  }
  for (const p of req.system) if (p.type === "text") chars += p.text.length;
  return {
    inputTokens: Math.max(1, Math.ceil(chars / 4)),
    outputTokens: Math.max(1, Math.ceil(text.length / 4)),
  };
}
