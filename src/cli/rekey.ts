/**
 * `deno task rekey`: moves every secret stored in the gateway's KV to a new
 * KV_ENCRYPTION_KEY (accounts, stored API keys, the stored config and all its history
 * versions), and seals what was stored in clear. It works on the KV directly, found as the
 * gateway finds it (`KV_PATH`, default `./data/kv.sqlite3`). Stop the gateway instances first
 * (or run it again after they restart with the new key: it is idempotent).
 *
 *   OLD_KV_ENCRYPTION_KEY=... NEW_KV_ENCRYPTION_KEY=... deno task rekey
 */
import { SecretBox } from "../accounts/secret_box.ts";
import { openGatewayKv } from "../kv.ts";
import { resealRecords, type ResealReport } from "../kv_reseal.ts";
import { readSettings } from "../settings.ts";

/** The keys to migrate between, from the environment; a string is the problem. */
export function rekeyKeys(
  env: Record<string, string | undefined>,
): { from?: string; to: string } | string {
  const from = env.OLD_KV_ENCRYPTION_KEY?.trim() || undefined;
  const to = env.NEW_KV_ENCRYPTION_KEY?.trim();
  if (!to) {
    return "set NEW_KV_ENCRYPTION_KEY (the key to seal with) and OLD_KV_ENCRYPTION_KEY " +
      "(the key records are sealed with now; leave it out when they were stored in clear)";
  }
  return { from, to };
}

/** Re-seals everything in `kv` with `to`, opening sealed records with `from`. */
export async function rekey(
  kv: Deno.Kv,
  keys: { from?: string; to: string },
): Promise<ResealReport> {
  return await resealRecords(kv, {
    to: new SecretBox(keys.to),
    from: keys.from ? new SecretBox(keys.from) : undefined,
  });
}

if (import.meta.main) {
  const env = Deno.env.toObject();
  const keys = rekeyKeys(env);
  if (typeof keys === "string") {
    console.error(`rekey: ${keys}`);
    Deno.exit(2);
  }
  const settings = readSettings(Deno.args, env);
  const kv = await openGatewayKv(settings.kvPath);
  const report = await rekey(kv, keys);
  kv.close();
  console.log(
    `rekey: ${report.rekeyed} re-encrypted, ${report.sealed} sealed (were in clear), ` +
      `${report.unchanged} already under the new key, ${report.unreadable.length} unreadable`,
  );
  for (const key of report.unreadable) {
    console.error(`rekey: ${key} is sealed with neither key; left as it is`);
  }
  if (report.unreadable.length > 0) Deno.exit(1);
  console.log("rekey: done; now set KV_ENCRYPTION_KEY to the new key and restart the gateway");
}
