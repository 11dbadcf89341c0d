/**
 * Runs a KV operation, retrying transient failures (a local KV file shared by two processes
 * answers "database is locked" under contention) with bounded exponential backoff.
 * Other errors, and the last transient one, are thrown.
 */
export async function withKvRetry<T>(op: () => Promise<T>, attempts = 6): Promise<T> {
  let delay = 10;
  for (let i = 1;; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= attempts || !isTransientKvError(err)) throw err;
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay *= 2;
    }
  }
}

/** "database is locked" / busy errors from the SQLite-backed local KV. */
export function isTransientKvError(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return /database is locked|SQLITE_BUSY|database is busy/i.test(text);
}

/**
 * A KV write that kept losing its versionstamp check to concurrent writers, after its own
 * bounded retries: the admin API answers it with 409 rather than 500.
 */
export class KvConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KvConflictError";
  }
}
