import type { IrEvent } from "./types.ts";

/**
 * The one normaliser of IR streams: whatever a decoder emitted (bare deltas, or its own
 * starts and ends), encoders behind it see a well-formed stream:
 *
 * - every block is `*_start` → its deltas → `*_end`, numbered 0, 1, 2… in `block`;
 * - blocks never overlap, tool calls included (as Anthropic's content blocks): a block starts
 *   only once the one before it has ended. An argument delta for a tool call that has already
 *   ended (interleaved arguments, never seen from real upstreams) is dropped, as are deltas and
 *   ends of tool calls that never started;
 * - a signature or redacted reasoning seals its reasoning block (more thinking starts another,
 *   as Anthropic does), and redacted reasoning is a block of its own;
 * - text and reasoning blocks are never empty: they open with their first delta, and empty
 *   deltas (no text, no signature) are dropped;
 * - the open block ends before `finish`; an `error` leaves it open (the answer is abandoned, and
 *   each format's in-stream error ends it), and nothing passes after `finish` or `error`.
 *
 * The decoders' own starts and ends are trusted only as boundaries: the numbering is this
 * normaliser's. Deltas pass through as the same objects; only starts, ends and tool-call
 * starts (to carry `block`) are new, so the per-delta cost is a switch and a comparison.
 */
export class BlockNormaliser {
  private next = 0;
  /** The open block: its kind, number, and for tool calls the IR tool index. */
  private open: "text" | "reasoning" | "tool" | undefined;
  private openBlock = 0;
  private openTool = -1;
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
        this.close(out);
        return;
      case "text_delta":
        if (event.text === "") return;
        if (this.open !== "text") {
          this.close(out);
          this.begin("text", out);
        }
        out(event);
        return;
      case "reasoning_delta": {
        const seals = event.signature !== undefined || event.redacted !== undefined;
        if (event.text === "" && !seals) return;
        if (this.open !== "reasoning" || event.redacted !== undefined) {
          this.close(out);
          this.begin("reasoning", out);
        }
        out(event);
        if (seals) this.close(out);
        return;
      }
      case "text_end":
        if (this.open === "text") this.close(out);
        return;
      case "reasoning_end":
        if (this.open === "reasoning") this.close(out);
        return;
      case "tool_call_start":
        this.close(out);
        this.open = "tool";
        this.openBlock = this.next++;
        this.openTool = event.index;
        out(event.block === this.openBlock ? event : { ...event, block: this.openBlock });
        return;
      case "tool_call_delta":
        if (this.open === "tool" && this.openTool === event.index) out(event);
        return;
      case "tool_call_end":
        if (this.open === "tool" && this.openTool === event.index) this.close(out);
        return;
      case "finish":
        this.close(out);
        this.done = true;
        out(event);
        return;
      case "error":
        this.done = true;
        out(event);
        return;
    }
  }

  private begin(kind: "text" | "reasoning", out: (event: IrEvent) => void): void {
    this.open = kind;
    this.openBlock = this.next++;
    out(
      kind === "text"
        ? { type: "text_start", block: this.openBlock }
        : { type: "reasoning_start", block: this.openBlock },
    );
  }

  private close(out: (event: IrEvent) => void): void {
    switch (this.open) {
      case undefined:
        return;
      case "text":
        out({ type: "text_end", block: this.openBlock });
        break;
      case "reasoning":
        out({ type: "reasoning_end", block: this.openBlock });
        break;
      case "tool":
        out({ type: "tool_call_end", index: this.openTool });
        break;
    }
    this.open = undefined;
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
