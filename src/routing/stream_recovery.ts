import type { Config, ProviderType } from "../config/schema.ts";
import type { IrEvent, IrMessage, IrRequest } from "../ir/types.ts";
import type { Logger } from "../observe/logger.ts";
import { descriptorFor } from "../upstreams/registry.ts";
import type { CallContext, Upstream } from "../upstreams/types.ts";

/**
 * Stream recovery: when an upstream stream ends before its finish (cut off, or a thought
 * truncated), the gateway asks the same upstream to continue from the text already sent and
 * stitches the continuation into the same client stream. Gemini streams (`gemini`,
 * `gemini-cli`) break off like this often enough to make it their default (the descriptor's
 * `streamRecovery`); other upstream types opt in with `fallback.stream_recovery.all_upstreams`.
 */

export type RecoveryLanguage = "en" | "zh" | "ja" | "ko";

export type ContinuationPrompts = Record<RecoveryLanguage, string>;

/** The continuation instruction per language, sent as the last user turn of a re-ask. */
export const DEFAULT_CONTINUATION_PROMPTS: Readonly<ContinuationPrompts> = {
  en: "Your previous answer was cut off. Continue exactly where it stopped, without repeating " +
    "anything already written and without any preamble.",
  zh: "你上一条回答被中断了。请从中断处直接继续，不要重复已经写过的内容，也不要添加任何开场白。",
  ja: "前の回答が途中で途切れました。途切れたところからそのまま続けてください。" +
    "すでに書いた内容を繰り返したり、前置きを付けたりしないでください。",
  ko: "이전 답변이 중간에 끊겼습니다. 끊긴 부분부터 바로 이어서 작성하고, " +
    "이미 쓴 내용을 반복하거나 서두를 붙이지 마세요.",
};

/** How much of a continuation is held back to find text it repeats (and how far back). */
export const OVERLAP_WINDOW = 200;
/** Shorter overlaps are only removed when they start at a word (see `overlapLength`). */
const MIN_BLIND_OVERLAP = 4;

export interface StreamRecoverySettings {
  enabled: boolean;
  /** Re-asks per client request; 0 disables recovery as well. */
  maxAttempts: number;
  /** Also recover non-Gemini upstream types. */
  allUpstreams: boolean;
  prompts: ContinuationPrompts;
}

type RecoveryConfig = Config["fallback"]["stream_recovery"];

/**
 * The effective settings: `fallback.stream_recovery` with defaults for whatever is absent.
 * Made once per config object: every stream request asks.
 */
export function recoverySettings(config: RecoveryConfig): StreamRecoverySettings {
  if (config === undefined) return DEFAULT_SETTINGS ??= settingsOf(undefined);
  let settings = SETTINGS.get(config);
  if (!settings) SETTINGS.set(config, settings = settingsOf(config));
  return settings;
}

const SETTINGS = new WeakMap<NonNullable<RecoveryConfig>, StreamRecoverySettings>();
let DEFAULT_SETTINGS: StreamRecoverySettings | undefined;

function settingsOf(config: RecoveryConfig): StreamRecoverySettings {
  return {
    enabled: config?.enabled ?? true,
    maxAttempts: config?.max_attempts ?? 3,
    allUpstreams: config?.all_upstreams ?? false,
    prompts: { ...DEFAULT_CONTINUATION_PROMPTS, ...definedPrompts(config?.prompts) },
  };
}

function definedPrompts(
  prompts: Partial<Record<RecoveryLanguage, string | undefined>> | undefined,
): Partial<ContinuationPrompts> {
  const out: Partial<ContinuationPrompts> = {};
  for (const [lang, text] of Object.entries(prompts ?? {})) {
    if (text !== undefined && text !== "") out[lang as RecoveryLanguage] = text;
  }
  return out;
}

/** Whether a request to this upstream type gets a recoverable (IR) stream. */
export function recoveryApplies(
  settings: StreamRecoverySettings,
  upstreamType: ProviderType,
  stream: boolean,
): boolean {
  return stream && settings.enabled && settings.maxAttempts > 0 &&
    (settings.allUpstreams || descriptorFor(upstreamType).streamRecovery);
}

function countMatches(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

/** The conversation's language by script, or undefined when the text has no letters at all. */
function scriptLanguage(text: string): RecoveryLanguage | undefined {
  // The tail is enough to tell, and keeps long answers cheap.
  const sample = text.length > 2000 ? text.slice(-2000) : text;
  const kana = countMatches(sample, /[\p{Script=Hiragana}\p{Script=Katakana}]/gu);
  const hangul = countMatches(sample, /\p{Script=Hangul}/gu);
  const han = countMatches(sample, /\p{Script=Han}/gu);
  const letters = countMatches(sample, /\p{L}/gu);
  const cjk = kana + hangul + han;
  if (cjk === 0) return letters > 0 ? "en" : undefined;
  // One CJK character carries about a word: a few of them in English prose stay English.
  if (cjk * 3 < letters - cjk) return "en";
  if (hangul > 0 && hangul >= kana && hangul * 2 >= han) return "ko";
  // Japanese mixes kana into kanji; a Chinese text quoting a katakana name stays Chinese.
  if (kana > 0 && kana * 10 >= han) return "ja";
  if (han > 0) return "zh";
  return hangul > 0 ? "ko" : "ja";
}

/**
 * The language of a text by Unicode script: kana → ja, Hangul → ko, Han → zh, else en.
 * Mixed texts go by proportion (kanji with kana is Japanese, a few CJK words in English
 * stay English).
 */
export function detectLanguage(text: string): RecoveryLanguage {
  return scriptLanguage(text) ?? "en";
}

function lastUserText(ir: IrRequest): string {
  for (let i = ir.messages.length - 1; i >= 0; i--) {
    const m = ir.messages[i];
    if (m.role !== "user") continue;
    const text = m.parts.map((p) => (p.type === "text" ? p.text : "")).join("");
    if (text !== "") return text;
  }
  return "";
}

/**
 * The re-ask for a cut stream: the original conversation, the text sent so far as the model's
 * own turn, and the continuation instruction in the conversation's language (from the partial
 * answer, else the last user turn). Without any partial text (a truncated thought) there is
 * nothing to continue from, so the original request is asked again.
 */
export function continuationRequest(
  ir: IrRequest,
  partialText: string,
  prompts: ContinuationPrompts,
): IrRequest {
  if (partialText === "") return ir;
  const lang = scriptLanguage(partialText) ?? scriptLanguage(lastUserText(ir)) ?? "en";
  const messages: IrMessage[] = [...ir.messages];
  const last = messages.at(-1);
  if (last?.role === "assistant") {
    // A prefilled assistant turn: the partial answer continued it.
    messages[messages.length - 1] = {
      role: "assistant",
      parts: [...last.parts, { type: "text", text: partialText }],
    };
  } else {
    messages.push({ role: "assistant", parts: [{ type: "text", text: partialText }] });
  }
  messages.push({ role: "user", parts: [{ type: "text", text: prompts[lang] }] });
  return { ...ir, messages };
}

const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;
const BOUNDARY_CHAR = /[\s\p{P}\p{S}]/u;

/** Whether `text[i]` starts a word of a spaced script (the char before is a space/punctuation). */
function startsWord(text: string, i: number): boolean {
  const c = text[i];
  if (!WORD_CHAR.test(c) || CJK_CHAR.test(c)) return false;
  return i === 0 || BOUNDARY_CHAR.test(text[i - 1]);
}

/**
 * How many leading characters of `next` repeat the end of `sent`: the longest suffix of `sent`
 * (at most OVERLAP_WINDOW) that is a prefix of `next`. Models asked to continue often restart
 * the cut sentence or word. A short overlap could as well be a seamless continuation ("bal" +
 * "loon"), so below MIN_BLIND_OVERLAP it only counts when it starts a word ("Hello wor" +
 * "world").
 */
export function overlapLength(sent: string, next: string): number {
  const max = Math.min(sent.length, next.length, OVERLAP_WINDOW);
  for (let k = max; k > 0; k--) {
    if (!sent.endsWith(next.slice(0, k))) continue;
    if (k >= MIN_BLIND_OVERLAP || startsWord(sent, sent.length - k)) return k;
  }
  return 0;
}

export interface StreamRecoveryOptions {
  /** Opens the continuation stream for the text sent so far (see `continuationRequest`). */
  reask(partialText: string): Promise<ReadableStream<IrEvent>>;
  /** Re-asks at most this many times per stream. */
  maxAttempts: number;
  logger?: Logger;
}

type ErrorEvent = Extract<IrEvent, { type: "error" }>;

const CUT_ERROR: ErrorEvent = {
  type: "error",
  status: 502,
  message: "The upstream stream ended before the answer was complete.",
};

/** In-stream failures worth a re-ask: the upstream broke (5xx) or timed out, not a refusal. */
function recoverableStatus(status: number): boolean {
  return status >= 500 || status === 408;
}

/**
 * Passes the upstream's IR events through as they come and, when the stream ends without a
 * finish (an error event or just the end) while no tool call has started, re-asks with the
 * text sent so far and continues the same stream with the answer's remainder: the
 * continuation's `start` is dropped, the text it repeats is cut off (only its first
 * OVERLAP_WINDOW characters are held back for that), its finish ends the stream. Once text
 * was sent, the continuation's reasoning is dropped (it would land after the answer). When the
 * attempts are used up, or a re-ask fails, the last error goes to the client.
 */
export function withStreamRecovery(
  first: ReadableStream<IrEvent>,
  options: StreamRecoveryOptions,
): ReadableStream<IrEvent> {
  let reader = first.getReader();
  let attemptsLeft = Math.max(0, options.maxAttempts);
  let attempt = 0;
  /** The answer text the client has received. */
  let sent = "";
  let startSent = false;
  /** A tool call cannot be continued: its arguments would need the client's result first. */
  let toolCallSeen = false;
  let continuing = false;
  /** The continuation's first text, held until its overlap with `sent` is known. */
  let held: string | undefined;
  let emitted = 0;
  let ended = false;
  let cancelled = false;

  return new ReadableStream<IrEvent>({
    async pull(controller) {
      const emit = (event: IrEvent): void => {
        controller.enqueue(event);
        emitted++;
      };
      const emitText = (text: string): void => {
        if (text === "") return;
        sent += text;
        emit({ type: "text_delta", text });
      };
      const release = (): void => {
        if (held === undefined) return;
        const text = held;
        held = undefined;
        emitText(text.slice(overlapLength(sent, text)));
      };
      const end = (event?: IrEvent): void => {
        if (event) emit(event);
        ended = true;
        controller.close();
      };
      /** Opens the next continuation; false when recovery is not possible or not allowed. */
      const reask = async (status: number): Promise<boolean> => {
        if (attemptsLeft === 0 || toolCallSeen || !recoverableStatus(status)) return false;
        attemptsLeft--;
        attempt++;
        options.logger?.info("stream ended before its finish; asking the upstream to continue", {
          attempt,
          status,
          sent_chars: sent.length,
        });
        let next: ReadableStream<IrEvent>;
        try {
          next = await options.reask(sent);
        } catch (err) {
          options.logger?.warn("stream recovery re-ask failed", {
            attempt,
            error: err instanceof Error ? err.message : String(err),
          });
          return false;
        }
        if (cancelled) {
          await next.cancel().catch(() => {});
          return true;
        }
        reader = next.getReader();
        continuing = true;
        held = sent === "" ? undefined : "";
        return true;
      };
      /** The current stream ended without a finish: continue it, or pass the failure on. */
      const cut = async (error: ErrorEvent): Promise<void> => {
        release();
        // The ended stream may still hold its connection open after an error event.
        void reader.cancel().catch(() => {});
        if (!(await reask(error.status)) && !cancelled) end(error);
      };

      // Each pull forwards at least one event (or ends): a pull that enqueues nothing would
      // never be called again.
      const before = emitted;
      while (emitted === before && !ended && !cancelled) {
        let result: ReadableStreamReadResult<IrEvent>;
        try {
          result = await reader.read();
        } catch {
          // Adapters turn failures into error events; a stream that throws anyway was cut.
          result = { done: false, value: CUT_ERROR };
        }
        if (cancelled) return;
        if (result.done) {
          await cut(CUT_ERROR);
          continue;
        }
        const event = result.value;
        switch (event.type) {
          case "start":
            if (startSent) break;
            startSent = true;
            emit(event);
            break;
          case "text_delta":
            if (held === undefined) {
              emitText(event.text);
              break;
            }
            held += event.text;
            // Release as soon as no longer overlap is possible: the held text is no longer part
            // of the sent tail, or the window is full.
            if (held.length >= OVERLAP_WINDOW || !sent.slice(-OVERLAP_WINDOW).includes(held)) {
              release();
            }
            break;
          case "reasoning_delta":
            if (continuing && sent !== "") break;
            emit(event);
            break;
          case "tool_call_start":
            toolCallSeen = true;
            release();
            emit(event);
            break;
          case "tool_call_delta":
          case "tool_call_end":
            release();
            emit(event);
            break;
          case "finish":
            release();
            end(event);
            break;
          case "error":
            await cut(event);
            break;
          default:
            // Text and reasoning boundaries: text is held and stitched here, so the encoder's
            // normaliser (withBlocks) derives the blocks from the deltas instead.
            break;
        }
      }
    },
    async cancel(reason) {
      cancelled = true;
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * `upstream.stream(ir, ctx)` made recoverable: every re-ask goes to the same upstream with the
 * same credential, as a continuation of the text sent so far.
 */
export async function recoverableStream(
  upstream: Upstream,
  ir: IrRequest,
  ctx: CallContext,
  settings: StreamRecoverySettings,
  logger?: Logger,
): Promise<ReadableStream<IrEvent>> {
  const first = await upstream.stream(ir, ctx);
  return withStreamRecovery(first, {
    maxAttempts: settings.maxAttempts,
    logger,
    reask: (text) => upstream.stream(continuationRequest(ir, text, settings.prompts), ctx),
  });
}
