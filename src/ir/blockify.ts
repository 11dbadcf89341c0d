import type { IrEvent } from "./types.ts";

/**
 * The one normaliser of IR streams: whatever a decoder emitted (bare deltas, or its own
 * starts and ends), encoders behind it see a well-formed stream:
 *
 * - every block is `*_start` → its deltas → `*_end`, numbered 0, 1, 2… in `block`;
 * - text and reasoning blocks never overlap anything: one starts only after every open block
 *   has ended. Tool calls may overlap each other, because OpenAI Chat and Responses stream
 *   parallel calls with interleaved arguments (keyed by the IR tool index); a text or
 *   reasoning block, or a repeated start of the same tool index, ends them. Argument deltas and
 *   ends of tool calls that are not open (never started, or already ended) are dropped;
 * - a signature or redacted reasoning seals its reasoning block (more thinking starts another,
 *   as Anthropic does), and redacted reasoning is a block of its own;
 * - text and reasoning blocks are never empty: they open with their first delta, and empty
 *   deltas (no text, no signature) are dropped;
 * - open blocks end before `finish`, in start order, their ends marked `cut` when the finish is
 *   a length, content-filter or error stop; an `error` leaves them open (the answer is
 *   abandoned, and each format's in-stream error ends it); nothing passes after either.
 *
 * The decoders' own starts and ends are trusted only as boundaries: the numbering is this
 * normaliser's. Deltas pass through as the same objects; only starts, ends and tool-call
 * starts (to carry `block`) are new, so the per-delta cost is a switch and a comparison.
 */
export class BlockNormaliser {
  private next = 0;
  /** The open text or reasoning block, and its number. */
  private open: "text" | "reasoning" | undefined;
  private openBlock = 0;
  /** Open tool calls: IR tool index → block number, in start order. */
  private readonly tools = new Map<number, number>();
  private done = false;

  /** Feeds one event; `out` receives the normalised events, in order. */
  feed(event: IrEvent, out: (event: IrEvent) => void): void {
    if (this.done) return;
    switch (event.type) {
      case "start":
        out(event);
        return;
      case "text_start":
      case "reasoning_start":
        // A boundary only: the block opens with its first delta, so no block is ever empty.
        this.closeAll(out, false);
        return;
      case "text_delta":
        if (event.text === "") return;
        if (this.open !== "text") this.begin("text", out);
        out(event);
        return;
      case "reasoning_delta": {
        const seals = event.signature !== undefined || event.redacted !== undefined;
        if (event.text === "" && !seals) return;
        if (this.open !== "reasoning" || event.redacted !== undefined) {
          this.begin("reasoning", out);
        }
        out(event);
        if (seals) this.closeOpen(out, false);
        return;
      }
      case "text_end":
        if (this.open === "text") this.closeOpen(out, event.cut === true);
        return;
      case "reasoning_end":
        if (this.open === "reasoning") this.closeOpen(out, event.cut === true);
        return;
      case "tool_call_start": {
        this.closeOpen(out, false);
        if (this.tools.has(event.index)) out({ type: "tool_call_end", index: event.index });
        const block = this.next++;
        this.tools.delete(event.index);
        this.tools.set(event.index, block);
        out(event.block === block ? event : { ...event, block });
        return;
      }
      case "tool_call_delta":
        if (this.tools.has(event.index)) out(event);
        return;
      case "tool_call_end":
        if (this.tools.delete(event.index)) out(event);
        return;
      case "finish":
        this.closeAll(
          out,
          event.reason === "length" || event.reason === "content_filter" ||
            event.reason === "error",
        );
        this.done = true;
        out(event);
        return;
      case "error":
        this.done = true;
        out(event);
        return;
    }
  }

  /** Opens a text or reasoning block after ending every open block. */
  private begin(kind: "text" | "reasoning", out: (event: IrEvent) => void): void {
    this.closeAll(out, false);
    this.open = kind;
    this.openBlock = this.next++;
    out(
      kind === "text"
        ? { type: "text_start", block: this.openBlock }
        : { type: "reasoning_start", block: this.openBlock },
    );
  }

  /** Ends the open text or reasoning block; `cut` when the answer stops inside it. */
  private closeOpen(out: (event: IrEvent) => void, cut: boolean): void {
    if (this.open === undefined) return;
    const type = this.open === "text" ? "text_end" : "reasoning_end";
    out(cut ? { type, block: this.openBlock, cut } : { type, block: this.openBlock });
    this.open = undefined;
  }

  /** Ends every open block, in start order (at most one of them is text or reasoning). */
  private closeAll(out: (event: IrEvent) => void, cut: boolean): void {
    this.closeOpen(out, cut);
    if (this.tools.size === 0) return;
    for (const index of this.tools.keys()) {
      out(cut ? { type: "tool_call_end", index, cut } : { type: "tool_call_end", index });
    }
    this.tools.clear();
  }
}

/** An encoder's synchronous per-event handler, with what it does when the stream ends. */
export interface EventEncoder<O> {
  event(event: IrEvent, controller: TransformStreamDefaultController<O>): void;
  flush?(controller: TransformStreamDefaultController<O>): void;
}

/**
 * An encoder behind the normaliser: the one place every IR stream passes before it is encoded
 * for a client (stream recovery and all decoders come before it), so encoders handle each
 * event on its own instead of rebuilding the block structure.
 */
export function withBlocks<O>(encoder: EventEncoder<O>): Transformer<IrEvent, O> {
  const blocks = new BlockNormaliser();
  let controller: TransformStreamDefaultController<O>;
  // One closure per stream, not per event.
  const out = (event: IrEvent): void => encoder.event(event, controller);
  return {
    transform(event, c) {
      controller = c;
      blocks.feed(event, out);
    },
    flush(c) {
      encoder.flush?.(c);
    },
  };
}

/** The normaliser as a stream stage (IR → IR), for tests and pipelines without an encoder. */
export function blockify(): Transformer<IrEvent, IrEvent> {
  const blocks = new BlockNormaliser();
  let controller: TransformStreamDefaultController<IrEvent>;
  const out = (event: IrEvent): void => controller.enqueue(event);
  return {
    transform(event, c) {
      controller = c;
      blocks.feed(event, out);
    },
  };
}
