import { labels } from "../observe/metrics.ts";
import type { KeyStore } from "./store.ts";
import { USAGE_METRICS, type UsageMetric } from "./counters.ts";

const TOTALS = ["client_keys", "n", "total", 0] as const;

type KeyTotals = Record<UsageMetric, number>;

function zeroTotals(): KeyTotals {
  return Object.fromEntries(USAGE_METRICS.map((m) => [m, 0])) as KeyTotals;
}

/**
 * Per-key series for `/metrics`, from the shared all-time totals in KV: the `top` keys by
 * requests get their own series (labelled by id and label); all others are summed under
 * `key="other"`, so the number of series stays bounded however many keys exist.
 */
export async function renderKeyMetrics(kv: Deno.Kv, store: KeyStore, top: number): Promise<string> {
  const byKey = new Map<string, KeyTotals>();
  for await (const e of kv.list<Deno.KvU64>({ prefix: TOTALS })) {
    const [, , , , id, metric] = e.key as [string, string, string, number, string, string];
    let t = byKey.get(id);
    if (!t) {
      t = zeroTotals();
      byKey.set(id, t);
    }
    if (metric in t) t[metric as keyof KeyTotals] = Number(e.value.value);
  }
  if (byKey.size === 0) return "";
  const ranked = [...byKey].sort((a, b) => b[1].requests - a[1].requests);
  const rows: Array<[Record<string, string>, KeyTotals]> = [];
  const other = zeroTotals();
  ranked.forEach(([id, t], i) => {
    if (i < top) {
      rows.push([
        { key: id, label: (store.byId(id)?.record.label ?? "(deleted)").slice(0, 100) },
        t,
      ]);
    } else {
      for (const k of Object.keys(other) as (keyof KeyTotals)[]) other[k] += t[k];
    }
  });
  if (ranked.length > top) rows.push([{ key: "other", label: "other" }, other]);

  const lines: string[] = [];
  const head = (name: string, help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
  };
  head("llm_proxy_client_key_requests_total", "Requests by managed client key.");
  for (const [l, t] of rows) {
    lines.push(`llm_proxy_client_key_requests_total${labels(l)} ${t.requests}`);
  }
  head("llm_proxy_client_key_errors_total", "Error answers by managed client key.");
  for (const [l, t] of rows) {
    lines.push(`llm_proxy_client_key_errors_total${labels(l)} ${t.errors}`);
  }
  head("llm_proxy_client_key_tokens_total", "Tokens by managed client key and kind.");
  for (const [l, t] of rows) {
    for (
      const [kind, n] of [
        ["input", t.input_tokens],
        ["output", t.output_tokens],
        ["cache_read", t.cache_read_tokens],
        ["cache_write", t.cache_write_tokens],
      ] as const
    ) {
      lines.push(`llm_proxy_client_key_tokens_total${labels({ ...l, kind })} ${n}`);
    }
  }
  head("llm_proxy_client_key_cost_total", "Estimated cost by managed client key (pricing table).");
  for (const [l, t] of rows) {
    lines.push(`llm_proxy_client_key_cost_total${labels(l)} ${t.cost_micro / 1_000_000}`);
  }
  return lines.join("\n") + "\n";
}
