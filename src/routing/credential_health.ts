import type { Cooldowns } from "../accounts/cooldowns.ts";
import type { Config } from "../config/schema.ts";
import type { FailureVerdict } from "./failure.ts";

export type FailurePolicy = Config["failure_policy"];

/** What a failure did to the credential. */
export interface HealthOutcome {
  /** The credential is now out of rotation (benched or ejected). */
  benched: boolean;
  /** It was ejected for server-side failures (outlier detection), not benched for a limit. */
  ejected: boolean;
  /** Until when (ms since the epoch), when benched. */
  until?: number;
}

interface Tally {
  /** Server-side failures in a row on this instance. */
  consecutive: number;
  /** Times ejected; grows the next ejection, shrinks after successes. */
  ejections: number;
  /** When the last ejection ended (ms), for the decay. */
  ejectedUntil: number;
  lastStatus: number;
}

/** Bounded: one tally per credential that has failed recently. */
const MAX_TALLIES = 10_000;

/**
 * Outlier detection over credentials, after Envoy's (`consecutive_5xx`, `base_ejection_time`,
 * `max_ejection_percent`): a server-side failure ejects a credential only after
 * `consecutive_failures` in a row, for `base_ejection_seconds` × the times it has been ejected
 * (capped), and never more than `max_ejection_percent` of a provider's credentials at once.
 * Rate limits and auth failures bench at once, for their own time.
 *
 * The counts are per instance (a failure streak is what this instance saw); the benches
 * themselves go through `Cooldowns`, so every instance skips an ejected credential.
 */
export class CredentialHealth {
  readonly #cooldowns: Cooldowns;
  readonly #now: () => number;
  readonly #tallies = new Map<string, Tally>();
  /** Ejections made by this instance, for `/metrics`. */
  ejectionsTotal = 0;

  constructor(cooldowns: Cooldowns, now: () => number = Date.now) {
    this.#cooldowns = cooldowns;
    this.#now = now;
  }

  /** A good answer: the streak ends, and the ejection count decays once the last one is over. */
  succeeded(providerId: string, credentialId: string): void {
    if (this.#tallies.size === 0) return; // the common case: nothing has failed
    const key = `${providerId}\u0000${credentialId}`;
    const t = this.#tallies.get(key);
    if (!t) return;
    t.consecutive = 0;
    if (t.ejections > 0 && this.#now() >= t.ejectedUntil) t.ejections--;
    if (t.ejections === 0) this.#tallies.delete(key);
  }

  /**
   * A failed attempt. `total` is how many credentials the provider has (for the ejection cap).
   * Client failures (the request's fault) bench nothing.
   */
  async failed(
    providerId: string,
    credentialId: string,
    verdict: FailureVerdict,
    status: number,
    total: number,
    policy: FailurePolicy,
  ): Promise<HealthOutcome> {
    if (verdict.kind === "client") return { benched: false, ejected: false };
    if (verdict.kind === "rate_limit" || verdict.kind === "auth") {
      if (verdict.cooldownSeconds <= 0) return { benched: false, ejected: false };
      // The cooldown's own end (a longer one already running stays): the log shows that.
      const until = await this.#cooldowns.coolDown(
        providerId,
        credentialId,
        verdict.cooldownSeconds,
        verdict.kind,
        `${status || "error"} from the upstream`,
      ) ?? this.#now() + verdict.cooldownSeconds * 1e3;
      return { benched: true, ejected: false, until };
    }
    const t = this.#tally(providerId, credentialId);
    t.consecutive++;
    t.lastStatus = status;
    if (t.consecutive < policy.consecutive_failures) return { benched: false, ejected: false };
    if (!await this.#mayEject(providerId, credentialId, total, policy)) {
      return { benched: false, ejected: false };
    }
    const seconds = Math.min(
      policy.base_ejection_seconds * (t.ejections + 1),
      policy.max_ejection_seconds,
    );
    if (seconds <= 0) return { benched: false, ejected: false };
    const streak = t.consecutive;
    t.consecutive = 0;
    t.ejections++;
    t.ejectedUntil = this.#now() + seconds * 1000;
    this.ejectionsTotal++;
    // One time for the tally, the stored cooldown and the request log (computed twice, they
    // could differ by a millisecond).
    const until = await this.#cooldowns.coolDown(
      providerId,
      credentialId,
      seconds,
      "server",
      `${streak} server-side failures in a row, last ${status || "connection error"}`,
    ) ?? t.ejectedUntil;
    t.ejectedUntil = until;
    return { benched: true, ejected: true, until };
  }

  /** At most `max_ejection_percent` of the provider's credentials out at once (at least one). */
  async #mayEject(
    providerId: string,
    credentialId: string,
    total: number,
    policy: FailurePolicy,
  ): Promise<boolean> {
    if (policy.max_ejection_percent <= 0) return false;
    const allowed = Math.max(1, Math.floor(total * policy.max_ejection_percent / 100));
    let ejected = 0;
    for (const [id, c] of await this.#cooldowns.active(providerId)) {
      if (c.reason === "server" && id !== credentialId) ejected++;
    }
    return ejected < allowed;
  }

  #tally(providerId: string, credentialId: string): Tally {
    const key = `${providerId}\u0000${credentialId}`;
    let t = this.#tallies.get(key);
    if (!t) {
      if (this.#tallies.size >= MAX_TALLIES) {
        this.#tallies.delete(this.#tallies.keys().next().value as string);
      }
      t = { consecutive: 0, ejections: 0, ejectedUntil: 0, lastStatus: 0 };
      this.#tallies.set(key, t);
    }
    return t;
  }
}
