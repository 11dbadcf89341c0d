/**
 * Transformer stages run inside one pull-based ReadableStream: the same output as
 * `source.pipeThrough(new TransformStream(a)).pipeThrough(new TransformStream(b))`, without a
 * TransformStream (two queues, three controllers) and a pipe loop per stage.
 *
 * A relay chain is built by several modules, each adding its layer: the upstream call's idle
 * watch, a provider's SSE guard or decoder, the client format's encoder, the observer's tap.
 * When `fuse` is given a fused stream nobody has read yet, it does not wrap it: the new stages
 * join that stream's own and the same stream is returned, so the chain stays one stream
 * reading the upstream's body directly. As with `pipeThrough`, the source is taken over: its
 * holder must not read it afterwards (a joined one would give the new stages' output).
 * Measured in `deno task soak`: 39.0 → 30.5 KB of JS heap per idle open stream, as every
 * open stream held each layer's stream, queue, reader and controller.
 */

import { after, cancel, type Deadline } from "./deadline.ts";

/** What a stage may do with its output; `terminate` ends the whole stream early. */
type StageController<O> = Pick<
  TransformStreamDefaultController<O>,
  "enqueue" | "error" | "terminate" | "desiredSize"
>;

/** A transformer that may also turn a failure into a last chunk. */
export interface Stage<I, O> extends Transformer<I, O> {
  /**
   * Turns a failure of the source or of any stage up to this one into this stage's last
   * output (an in-stream error event); the stages after it then see that chunk and a clean
   * end. The stages before it are cancelled with the failure.
   */
  rescue?: (err: unknown) => O;
}

/** Aborts a silent source: a read that waits longer than `ms` calls `onIdle`. */
export interface IdleWatch {
  ms: number;
  /** Ends the wait (aborts the upstream request), so the pending read fails. */
  onIdle: () => void;
  /** What the failed read is reported as once the watch fired. */
  error: () => unknown;
}

export interface FuseOptions<O> {
  /**
   * Turns a failure of the source or of a stage into a last chunk (an in-stream error event)
   * and a clean end; without it the stream errors.
   */
  onError?: (err: unknown) => O;
  /**
   * Only time spent waiting on the source counts: a consumer that reads slowly
   * (backpressure) is not the source's silence.
   */
  idle?: IdleWatch;
}

type AnyStage = Stage<unknown, unknown>;

class Terminated {
  constructor(readonly at: number) {}
}

/** A failure and where it happened: -1 for the source, else the stage's index. */
class Failed {
  constructor(readonly at: number, readonly cause: unknown) {}
}

const relays = new WeakMap<ReadableStream<unknown>, Relay>();

export function fuse<A, B>(
  source: ReadableStream<A>,
  stages: [Stage<A, B>],
  options?: FuseOptions<B>,
): ReadableStream<B>;
export function fuse<A, B, C>(
  source: ReadableStream<A>,
  stages: [Stage<A, B>, Stage<B, C>],
  options?: FuseOptions<C>,
): ReadableStream<C>;
export function fuse<A, B, C, D>(
  source: ReadableStream<A>,
  stages: [Stage<A, B>, Stage<B, C>, Stage<C, D>],
  options?: FuseOptions<D>,
): ReadableStream<D>;
export function fuse<A>(
  source: ReadableStream<A>,
  stages: [],
  options?: FuseOptions<A>,
): ReadableStream<A>;
export function fuse(
  source: ReadableStream<unknown>,
  stages: AnyStage[],
  options: FuseOptions<unknown> = {},
): ReadableStream<unknown> {
  const joined = relays.get(source);
  if (joined?.joinable(source, options)) {
    joined.add(stages, options.onError);
    return source;
  }
  const relay = new Relay(source, options.idle);
  relay.add(stages, options.onError);
  const stream = relay.face();
  relays.set(stream, relay);
  return stream;
}

/**
 * The answer with its body through `stages`. When they join the body's relay, the answer goes
 * on as it is: no Response is rebuilt and no headers are copied.
 */
export function fuseAnswer(res: Response, stages: [Stage<Uint8Array, Uint8Array>]): Response {
  const body = res.body as ReadableStream<Uint8Array>;
  const fused = fuse(body, stages);
  if (fused === body) return res;
  return new Response(fused, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/** One source and the stages its chunks go through, behind one ReadableStream. */
class Relay {
  readonly stages: AnyStage[] = [];
  readonly #reader: ReadableStreamDefaultReader<unknown>;
  readonly #idle: IdleWatch | undefined;
  #started = false;
  #finished = false;
  #cancelled = false;
  /** Stages before this index are done (cancelled, or ended by their rescue). */
  #alive = 0;
  #out: unknown[] = [];
  #controllers: StageController<unknown>[] = [];
  /** Per stage: its transform still running, which the next chunk waits behind. */
  #busy: (Promise<void> | undefined)[] = [];
  #pending: Promise<unknown>[] = [];
  /** The output being made ahead of the consumer's next pull. */
  #produced: Promise<Failed | undefined> | undefined;
  /** The source read started before the first pull. */
  #ahead: Promise<ReadableStreamReadResult<unknown>> | undefined;
  #waitingSince = 0;
  #idled = false;
  #timer: Deadline | undefined;

  constructor(source: ReadableStream<unknown>, idle: IdleWatch | undefined) {
    this.#reader = source.getReader();
    this.#idle = idle;
    // The first chunk is asked for at once: it comes while the answer's headers go out.
    this.#readAhead();
  }

  /** Whether `fuse` may add stages to this relay instead of wrapping its stream. */
  joinable(stream: ReadableStream<unknown>, options: FuseOptions<unknown>): boolean {
    return !this.#started && !stream.locked && options.idle === undefined;
  }

  add(stages: AnyStage[], onError: ((err: unknown) => unknown) | undefined): void {
    for (const stage of stages) this.stages.push(stage);
    if (onError) this.stages.push({ rescue: onError });
  }

  /** The relay's one stream. */
  face(): ReadableStream<unknown> {
    return new ReadableStream<unknown>({
      pull: (controller) => this.#pull(controller),
      cancel: (reason) => this.#cancel(reason),
    }, { highWaterMark: 0 });
  }

  #start(): Promise<void> | undefined {
    this.#started = true;
    const n = this.stages.length;
    for (let i = 0; i < n; i++) {
      this.#controllers.push(this.#controller(i));
      this.#busy.push(undefined);
    }
    let started: Promise<void> | undefined;
    for (let i = 0; i < n; i++) {
      const run = () => this.stages[i].start?.(this.#stageController(i));
      started = started ? started.then(run) : (run() as Promise<void> | undefined);
    }
    return started;
  }

  /** Stage i's controller: its output goes through the stages after it, then out. */
  #controller(i: number): StageController<unknown> {
    return {
      desiredSize: 1,
      enqueue: (chunk?: unknown): void => this.#push(i + 1, chunk),
      error(reason?: unknown): void {
        throw new Failed(i, reason);
      },
      terminate(): void {
        throw new Terminated(i);
      },
    };
  }

  #stageController(i: number): TransformStreamDefaultController<unknown> {
    return this.#controllers[i] as TransformStreamDefaultController<unknown>;
  }

  /**
   * Synchronous stages stay synchronous: a promise is only awaited when a stage returns one.
   * While a stage's transform is still running, its next chunks wait behind it, so a stage
   * sees its chunks one at a time and in order, as in a TransformStream.
   */
  #push(i: number, chunk: unknown): void {
    if (i === this.stages.length) {
      this.#out.push(chunk);
      return;
    }
    const stage = this.stages[i];
    if (!stage.transform) {
      this.#controllers[i].enqueue(chunk);
      return;
    }
    const transform = stage.transform;
    const before = this.#busy[i];
    let r: unknown;
    try {
      // A closure only when the chunk has to wait: not one per chunk and stage.
      r = before
        ? before.then(() => transform.call(stage, chunk, this.#stageController(i)))
        : transform.call(stage, chunk, this.#stageController(i));
    } catch (err) {
      throw located(i, err);
    }
    if (!(r instanceof Promise)) return;
    const done: Promise<void> = r.then(() => {
      if (this.#busy[i] === done) this.#busy[i] = undefined;
    }, (err) => {
      throw located(i, err);
    });
    this.#busy[i] = done;
    this.#pending.push(done);
  }

  async #settle(): Promise<void> {
    while (this.#pending.length > 0) await this.#pending.shift();
  }

  async #flushFrom(from: number): Promise<void> {
    for (let i = from; i < this.stages.length; i++) {
      try {
        const r = this.stages[i].flush?.(this.#stageController(i));
        if (r instanceof Promise) await r;
      } catch (err) {
        throw located(i, err);
      }
      if (this.#pending.length > 0) await this.#settle();
    }
  }

  /**
   * The next source read. Its wait counts for the idle watch until #produce, which awaits it
   * at once, marks it answered (no promise wrapped around each read).
   *
   * Not a BYOB read into a reused buffer, though that cut a 200-chunk stream's relay time by
   * 40 % (Deno's default reader allocates 64 KiB per read): in `deno task soak` it raised the
   * RSS of each idle open stream from 7–38 KB to 57–67 KB, past the soak's 50 KB (measured;
   * not the buffer's size, nor churn: a pool of reused buffers did the same; smaps puts the
   * growth in the malloc heap; cause not found).
   */
  #read(): Promise<ReadableStreamReadResult<unknown>> {
    const ahead = this.#ahead;
    if (ahead) {
      this.#ahead = undefined;
      return ahead;
    }
    if (this.#idle) this.#waiting(this.#idle);
    return this.#reader.read();
  }

  /**
   * The first read, started before anyone asks: its answer may wait for the consumer, so it
   * marks itself answered when it is (a slow consumer is not the source's silence).
   */
  #readAhead(): void {
    const idle = this.#idle;
    if (!idle) {
      this.#ahead = this.#reader.read();
    } else {
      this.#waiting(idle);
      this.#ahead = this.#reader.read().then((r) => {
        this.#waitingSince = 0;
        return r;
      });
    }
    // Its failure is met when the read is awaited; until then it is not unhandled.
    this.#ahead.catch(() => {});
  }

  #waiting(idle: IdleWatch): void {
    this.#waitingSince = Date.now();
    this.#timer ??= after(idle.ms, this.#checkIdle);
  }

  /**
   * One coarse deadline per stream (`deadline.ts`: a `setTimeout` cost 9 µs at each stream's
   * start, measured), re-armed lazily, so chunks cost no timer work.
   */
  #checkIdle = (): void => {
    this.#timer = undefined;
    const idle = this.#idle;
    if (this.#waitingSince === 0 || !idle) return;
    const left = this.#waitingSince + idle.ms - Date.now();
    if (left > 0) {
      this.#timer = after(left, this.#checkIdle);
      return;
    }
    this.#idled = true;
    idle.onIdle();
  };

  #stopIdle(): void {
    cancel(this.#timer);
    this.#timer = undefined;
    this.#waitingSince = 0;
  }

  async #pull(controller: ReadableStreamDefaultController<unknown>): Promise<void> {
    const ahead = this.#produced;
    this.#produced = undefined;
    const failure = await (ahead ?? this.#produce());
    if (this.#cancelled) return;
    if (failure !== undefined) {
      controller.error(failure.cause);
      return;
    }
    const ready = this.#out;
    this.#out = [];
    for (const chunk of ready) controller.enqueue(chunk);
    if (this.#finished) {
      controller.close();
      return;
    }
    // The next output is made while the server writes this one: one chunk ahead, as a
    // stream with a high-water mark of 1 would be (none ahead made 200-chunk streams ~30 %
    // slower, measured). The face itself keeps a mark of 0, so it starts nothing before a
    // consumer asks, and layers added meanwhile can still join.
    this.#produced = this.#produce();
  }

  /**
   * Reads until the stages produce something or the source ends. Resolves with the failure
   * nothing rescued (the stream then errors), else undefined; never rejects.
   */
  async #produce(): Promise<Failed | undefined> {
    try {
      if (!this.#started) {
        const started = this.#start();
        if (started) await started;
      }
      while (this.#out.length === 0 && !this.#finished) {
        const { done, value } = await this.#read();
        this.#waitingSince = 0;
        // Cancelled meanwhile (the client left): the stages heard of it through cancel.
        if (this.#cancelled) return undefined;
        if (done) {
          this.#finished = true;
          this.#stopIdle();
          await this.#flushFrom(0);
        } else {
          this.#push(0, value);
          // Only a stage that returned a promise leaves something to wait for: awaiting an
          // empty settle anyway cost a promise and two microtask turns per chunk.
          if (this.#pending.length > 0) await this.#settle();
        }
      }
      return undefined;
    } catch (err) {
      if (this.#cancelled) return undefined;
      try {
        return await this.#fail(err);
      } catch (e) {
        return new Failed(-1, e);
      }
    }
  }

  /**
   * Ends the stream after a failure: the first stage at or after the failure's place that can
   * rescue turns it into a last chunk, which the stages after it see before their flush.
   * Returns the failure when nothing rescues it (the stream then errors).
   */
  async #fail(err: unknown): Promise<Failed | undefined> {
    this.#finished = true;
    this.#stopIdle();
    let failure = err;
    while (true) {
      if (failure instanceof Terminated) {
        await this.#reader.cancel().catch(() => {});
        const from = Math.max(failure.at + 1, this.#alive);
        this.#alive = from;
        try {
          await this.#flushFrom(from);
          return undefined;
        } catch (e) {
          failure = e;
          continue;
        }
      }
      this.#dropPending();
      const at = failure instanceof Failed ? failure.at : -1;
      // An unlocated failure is the source's: once the idle watch fired, it is the silence.
      const cause = failure instanceof Failed
        ? failure.cause
        : this.#idled && this.#idle
        ? this.#idle.error()
        : failure;
      let j = Math.max(at, this.#alive);
      while (j < this.stages.length && !this.stages[j].rescue) j++;
      if (j >= this.stages.length) {
        await this.#cancelStages(this.#alive, this.stages.length, cause);
        await this.#reader.cancel(cause).catch(() => {});
        return new Failed(at, cause);
      }
      // As a pipe would: the stages before the rescuer hear of the failure through cancel.
      await this.#cancelStages(this.#alive, j, cause);
      await this.#reader.cancel(cause).catch(() => {});
      this.#alive = j + 1;
      try {
        this.#controllers[j].enqueue((this.stages[j].rescue as (e: unknown) => unknown)(cause));
        await this.#settle();
        await this.#flushFrom(j + 1);
        return undefined;
      } catch (e) {
        failure = e;
      }
    }
  }

  /** Transforms still running are abandoned; their failures no longer matter. */
  #dropPending(): void {
    for (const p of this.#pending) p.catch(() => {});
    this.#pending = [];
  }

  async #cancelStages(from: number, to: number, reason: unknown): Promise<void> {
    for (let i = from; i < to; i++) {
      try {
        await this.stages[i].cancel?.(reason);
      } catch {
        // The stream is going away; a stage's cleanup failure changes nothing.
      }
    }
  }

  async #cancel(reason: unknown): Promise<void> {
    this.#finished = true;
    this.#cancelled = true;
    this.#stopIdle();
    const from = this.#alive;
    this.#alive = this.stages.length;
    await this.#cancelStages(from, this.stages.length, reason);
    await this.#reader.cancel(reason).catch(() => {});
  }
}

function located(i: number, err: unknown): unknown {
  return err instanceof Failed || err instanceof Terminated ? err : new Failed(i, err);
}
