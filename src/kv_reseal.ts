import type { SecretBox } from "./accounts/secret_box.ts";
import { ACCOUNTS_PREFIX } from "./accounts/store.ts";
import { CONFIG_PREFIX } from "./config/kv_config.ts";
import { withKvRetry } from "./kv_retry.ts";
import type { Logger } from "./observe/logger.ts";

/**
 * Every KV record that holds secrets, and the field holding them in clear when no
 * KV_ENCRYPTION_KEY is set. With a key the same value is stored sealed under `sealed` instead
 * (accounts: the credential, incl. stored API keys; config versions: the whole config).
 */
const SECRET_RECORDS: readonly { prefix: Deno.KvKey; clearField: string }[] = [
  { prefix: ACCOUNTS_PREFIX, clearField: "credential" },
  { prefix: CONFIG_PREFIX, clearField: "config" },
];

/** What a re-seal pass did. */
export interface ResealReport {
  /** Records that were in clear and are now sealed. */
  sealed: number;
  /** Records sealed with the old key, now sealed with the new one. */
  rekeyed: number;
  /** Records already sealed with the new key. */
  unchanged: number;
  /** Records (as `a/b/c`) sealed with a key that is neither of the two: left as they are. */
  unreadable: string[];
}

/**
 * Seals every secret-bearing record with `to`: records in clear, and records sealed with
 * `from` (a key rotation). Each record is rewritten atomically against its versionstamp, so a
 * concurrent write is never lost (the record is read again). Idempotent: run it again after an
 * interruption, or to catch records an old instance wrote meanwhile.
 */
export async function resealRecords(
  kv: Deno.Kv,
  options: { to: SecretBox; from?: SecretBox },
): Promise<ResealReport> {
  const report: ResealReport = { sealed: 0, rekeyed: 0, unchanged: 0, unreadable: [] };
  for (const { prefix, clearField } of SECRET_RECORDS) {
    const entries = await withKvRetry(() => Array.fromAsync(kv.list({ prefix })));
    for (const first of entries) {
      let entry: Deno.KvEntryMaybe<unknown> = first;
      for (let attempt = 0; attempt < 5; attempt++) {
        const outcome = await resealOne(kv, entry, clearField, options);
        if (outcome === "conflict") {
          entry = await withKvRetry(() => kv.get(first.key));
          continue;
        }
        if (outcome === "unreadable") report.unreadable.push(first.key.join("/"));
        else if (outcome !== "skip") report[outcome]++;
        break;
      }
    }
  }
  return report;
}

type Outcome = "sealed" | "rekeyed" | "unchanged" | "unreadable" | "skip" | "conflict";

async function resealOne(
  kv: Deno.Kv,
  entry: Deno.KvEntryMaybe<unknown>,
  clearField: string,
  boxes: { to: SecretBox; from?: SecretBox },
): Promise<Outcome> {
  const value = entry.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "skip";
  const { sealed, [clearField]: clear, ...rest } = value as Record<string, unknown>;
  let plain: unknown;
  let outcome: Outcome;
  if (typeof sealed === "string") {
    const fromOld = boxes.from ? await tryOpen(boxes.from, sealed) : undefined;
    if (fromOld !== undefined) {
      plain = fromOld.value;
      outcome = "rekeyed";
    } else {
      return (await tryOpen(boxes.to, sealed)) ? "unchanged" : "unreadable";
    }
  } else if (clear !== undefined) {
    plain = clear;
    outcome = "sealed";
  } else {
    return "skip";
  }
  const next = { ...rest, sealed: await boxes.to.seal(plain) };
  const res = await withKvRetry(() => kv.atomic().check(entry).set(entry.key, next).commit());
  return res.ok ? outcome : "conflict";
}

async function tryOpen(box: SecretBox, sealed: string): Promise<{ value: unknown } | undefined> {
  try {
    return { value: await box.open(sealed) };
  } catch {
    return undefined;
  }
}

/**
 * At start with KV_ENCRYPTION_KEY set: seals what was stored in clear before the key was set,
 * and says which records are sealed with another key. KV trouble is logged, never fatal.
 */
export async function resealAtStart(kv: Deno.Kv, box: SecretBox, logger: Logger): Promise<void> {
  try {
    const report = await resealRecords(kv, { to: box });
    if (report.sealed > 0) {
      logger.info(
        `sealed ${report.sealed} KV records stored in clear before KV_ENCRYPTION_KEY was set`,
      );
    }
    if (report.unreadable.length > 0) {
      logger.warn(
        `${report.unreadable.length} KV records are sealed with another key; ` +
          "KV_ENCRYPTION_KEY missing or wrong (deno task rekey migrates to a new key)",
        { records: report.unreadable.slice(0, 20).join(", ") },
      );
    }
  } catch (err) {
    logger.warn("KV records could not be checked for sealing at start", {
      error: err instanceof Error ? err.message : "error",
    });
  }
}
