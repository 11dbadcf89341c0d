/**
 * Coarse deadlines on one shared timer instead of a `setTimeout` per request: the request path
 * only adds to and deletes from a set (a timer per request showed in the CPU profile at c=64).
 * The sweep runs every 50 ms while deadlines are pending and stops after a quiet while; it never
 * keeps a process alive.
 */

interface Pending {
  at: number;
  fire: () => void;
}

const SWEEP_MS = 50;
/** Sweeps with nothing pending before the timer stops (about 2 s). */
const IDLE_SWEEPS = 40;

const pending = new Set<Pending>();
let timer: ReturnType<typeof setInterval> | undefined;
let idle = 0;

/** Resolves as `p`, or rejects with `late()` once `ms` have passed (within ~50 ms). */
export function withinDeadline<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry: Pending = { at: Date.now() + ms, fire: () => reject(late()) };
    pending.add(entry);
    if (timer === undefined) start();
    // A promise that loses the race is still observed: its later failure is not unhandled.
    p.then((v) => {
      pending.delete(entry);
      resolve(v);
    }, (err) => {
      pending.delete(entry);
      reject(err);
    });
  });
}

function start(): void {
  idle = 0;
  timer = setInterval(sweep, SWEEP_MS);
  Deno.unrefTimer(timer);
}

function sweep(): void {
  if (pending.size === 0) {
    if (++idle >= IDLE_SWEEPS) {
      clearInterval(timer);
      timer = undefined;
    }
    return;
  }
  idle = 0;
  const now = Date.now();
  for (const e of pending) {
    if (e.at > now) continue;
    pending.delete(e);
    e.fire();
  }
}
