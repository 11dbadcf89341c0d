import type { ProviderConfig } from "../config/schema.ts";
import type { IrEvent, IrRequest, IrResponse } from "../ir/types.ts";

/** What an adapter needs for one attempt: where, as whom, which model, and when to give up. */
export interface CallContext {
  provider: ProviderConfig;
  /** The model name to send upstream (an alias resolves to its route's model). */
  model: string;
  /** The API key chosen for this attempt, for key-based providers. */
  apiKey?: string;
  /** Aborts when the client goes away; adapters pass it to every fetch. */
  signal: AbortSignal;
}

/** One upstream type behind one small interface: IR in, IR out. */
export interface Upstream {
  readonly type: string;
  send(req: IrRequest, ctx: CallContext): Promise<IrResponse>;
  stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>>;
}
