/**
 * Transformer stages run inside one pull-based ReadableStream: the same output as
 * `source.pipeThrough(new TransformStream(a)).pipeThrough(new TransformStream(b))`, without a
 * TransformStream (two queues, three controllers) and a pipe loop per stage. A converted
 * stream crosses several stages per chunk, and every open stream holds them all, so fusing
 * them saves memory per idle stream and work per chunk.
 */

/** What a stage may do with its output; `terminate` ends the whole stream early. */
type StageController<O> = Pick<
  TransformStreamDefaultController<O>,
  "enqueue" | "error" | "terminate" | "desiredSize"
>;

export interface FuseOptions<O> {
  /**
   * Turns a failure of the source or of a stage into a last chunk (an in-stream error event)
   * and a clean end; without it the stream errors.
   */
  onError?: (err: unknown) => O;
  /**
   * Chunks read ahead of the consumer (default 0). One layer of a relay chain should read one
   * ahead, so the next chunk is on its way while the server writes the last one.
   */
  highWaterMark?: number;
}

class Terminated extends Error {}

export function fuse<A, B>(
  source: ReadableStream<A>,
  stages: [Transformer<A, B>],
  options?: FuseOptions<B>,
): ReadableStream<B>;
export function fuse<A, B, C>(
  source: ReadableStream<A>,
  stages: [Transformer<A, B>, Transformer<B, C>],
  options?: FuseOptions<C>,
): ReadableStream<C>;
export function fuse<A, B, C, D>(
  source: ReadableStream<A>,
  stages: [Transformer<A, B>, Transformer<B, C>, Transformer<C, D>],
  options?: FuseOptions<D>,
): ReadableStream<D>;
export function fuse(
  source: ReadableStream<unknown>,
  stages: Transformer<unknown, unknown>[],
  options: FuseOptions<unknown> = {},
): ReadableStream<unknown> {
  const reader = source.getReader();
  let out: unknown[] = [];
  let finished = false;

  /** Stage i's controller: its output goes through the stages after it, then out. */
  const controllers: StageController<unknown>[] = stages.map((_, i) => ({
    desiredSize: 1,
    enqueue(chunk?: unknown): void {
      if (i + 1 < stages.length) push(i + 1, chunk);
      else out.push(chunk);
    },
    error(reason?: unknown): void {
      throw reason;
    },
    terminate(): void {
      throw new Terminated();
    },
  }));

  /**
   * Synchronous stages stay synchronous: a promise is only awaited when a stage returns one.
   * While a stage's transform is still running, its next chunks wait behind it (`busy`), so a
   * stage sees its chunks one at a time and in order, as in a TransformStream.
   */
  const pending: Promise<unknown>[] = [];
  const busy: (Promise<void> | undefined)[] = stages.map(() => undefined);
  function push(i: number, chunk: unknown): void {
    const stage = stages[i];
    if (!stage.transform) {
      controllers[i].enqueue(chunk);
      return;
    }
    const run = () =>
      stage.transform?.(chunk, controllers[i] as TransformStreamDefaultController<unknown>);
    const before = busy[i];
    const r = before ? before.then(run) : run();
    if (!(r instanceof Promise)) return;
    const done: Promise<void> = r.then(() => {
      if (busy[i] === done) busy[i] = undefined;
    });
    busy[i] = done;
    pending.push(done);
  }

  async function settle(): Promise<void> {
    while (pending.length > 0) await pending.shift();
  }

  async function cancelStages(reason: unknown): Promise<void> {
    for (const stage of stages) {
      try {
        await stage.cancel?.(reason);
      } catch {
        // The stream is going away; a stage's cleanup failure changes nothing.
      }
    }
  }

  async function flushAll(): Promise<void> {
    for (let i = 0; i < stages.length; i++) {
      const r = stages[i].flush?.(controllers[i] as TransformStreamDefaultController<unknown>);
      if (r instanceof Promise) await r;
      await settle();
    }
  }

  return new ReadableStream<unknown>({
    async start(): Promise<void> {
      for (let i = 0; i < stages.length; i++) {
        const r = stages[i].start?.(controllers[i] as TransformStreamDefaultController<unknown>);
        if (r instanceof Promise) await r;
      }
    },
    async pull(controller): Promise<void> {
      try {
        // Read until the stages produce something: a pull that enqueues nothing is not
        // called again.
        while (out.length === 0 && !finished) {
          const { done, value } = await reader.read();
          if (done) {
            finished = true;
            await flushAll();
          } else {
            push(0, value);
            await settle();
          }
        }
      } catch (err) {
        finished = true;
        if (!(err instanceof Terminated)) {
          // As a pipe would: the stages hear of the failure through their cancel hook.
          await cancelStages(err);
          await reader.cancel(err).catch(() => {});
          if (!options.onError) {
            controller.error(err);
            return;
          }
          out.push(options.onError(err));
        } else {
          await reader.cancel().catch(() => {});
        }
      }
      const ready = out;
      out = [];
      for (const chunk of ready) controller.enqueue(chunk);
      if (finished) controller.close();
    },
    async cancel(reason): Promise<void> {
      finished = true;
      await cancelStages(reason);
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: options.highWaterMark ?? 0 });
}
