import type { AccountLease } from "../accounts/types.ts";
import type { ProviderConfig, ProviderType } from "../config/schema.ts";
import type { FormatId, RequestHints } from "../formats/client_format.ts";
import type { ImageFetchSettings } from "../formats/gemini/image_fetch.ts";
import type { IrEvent, IrRequest, IrResponse } from "../ir/types.ts";
import type { IrEmbedRequest, IrEmbedResult } from "../ir/embeddings.ts";
import type { Logger } from "../observe/logger.ts";

/** What an adapter needs for one attempt: where, as whom, which model, and when to give up. */
export interface CallContext {
  provider: ProviderConfig;
  /** The model name to send upstream (an alias resolves to its route's model). */
  model: string;
  /** The API key chosen for this attempt, for key-based providers. */
  apiKey?: string;
  /**
   * The OAuth/service account chosen for this attempt (gemini-cli, qwen, vertex), with a
   * token that is valid for at least a few minutes. On a 401 the adapter throws UpstreamError
   * with status 401; the caller refreshes the account once and retries.
   */
  account?: AccountLease;
  /** Aborts when the client goes away; adapters pass it to every fetch. */
  signal: AbortSignal;
  /** The upstream POST helper (`src/upstreams/post.ts`) shows it every answer (quota headers). */
  observe?: (res: Response) => void;
  /**
   * The client's request headers. Adapters may copy a few protocol headers they own
   * (e.g. `anthropic-beta`, `anthropic-version`) and nothing else: never IPs, cookies or keys.
   */
  clientHeaders: Headers;
  /**
   * Image URLs inlined for Gemini-speaking upstreams: the SSRF guard's exceptions and the
   * download bounds from the config (`imageFetchSettingsOf`). Public hosts only, default
   * bounds, when absent.
   */
  imageFetch?: ImageFetchSettings;
  /** For debug notes about the conversion (e.g. parameters the model refuses). */
  logger?: Logger;
}

/** The same-format fast path: the client's body is forwarded without an IR round trip. */
export interface NativeForward {
  /** The raw body as the client sent it. */
  raw: Uint8Array<ArrayBuffer>;
  /** The parsed body; used when the model has to be renamed (aliases). */
  json: Record<string, unknown>;
  /** Whether the client asked for a stream. */
  stream: boolean;
  hints: RequestHints;
}

/**
 * One upstream type behind one small interface: IR in, IR out.
 * `send` and `stream` throw UpstreamError (with status, safe message, retryAfter) when the
 * upstream fails before answering; once `stream` has returned, failures arrive as an `error`
 * event followed by the end of the stream — the stream itself never errors.
 */
export interface Upstream {
  readonly type: ProviderType;
  send(req: IrRequest, ctx: CallContext): Promise<IrResponse>;
  stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>>;
  /**
   * The native format for one model, where it differs by model (Vertex serves Gemini and
   * Claude models): an Anthropic client of Vertex Claude is forwarded natively. Without it,
   * the descriptor's `nativeFormat` holds for every model.
   */
  nativeFormatFor?(model: string): FormatId;
  /**
   * Forwards a same-format request untouched (unknown fields survive), streaming unchanged;
   * the format is the descriptor's `nativeFormat` (`src/upstreams/registry.ts`).
   */
  forwardNative?(req: NativeForward, ctx: CallContext): Promise<Response>;
  /** The upstream's own input-token count, for providers configured with `count_tokens: upstream`. */
  countTokens?(req: IrRequest, ctx: CallContext): Promise<number>;
  /**
   * Embeddings (`src/routes/embeddings.ts`). Types without it answer the client with a clear
   * error instead of an attempt.
   */
  embed?(req: IrEmbedRequest, ctx: CallContext): Promise<IrEmbedResult>;
}

/** One model an upstream lists, with what its list says about it. */
export interface DiscoveredModel {
  id: string;
  display_name?: string;
  /** Unix seconds, when the upstream says. */
  created?: number;
}
