import { LATENCY_BUCKETS_MS } from "./histogram.ts";
import { countsOf, dimension, type StatsData } from "./stats.ts";

/**
 * The Prometheus text exposition of the stats: counters by provider, model and status, token
 * counters, and latency/TTFB histograms by provider. Labels come from the config's providers
 * and a capped set of model names, so their number stays bounded.
 */
export function renderMetrics(data: StatsData, uptimeSeconds: number): string {
  const lines: string[] = [];
  const head = (name: string, type: string, help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };

  head("llm_proxy_requests_total", "counter", "Answered conversation requests.");
  for (const [provider, byModel] of data.statuses) {
    for (const [model, byStatus] of byModel) {
      for (const [status, n] of byStatus) {
        lines.push(
          `llm_proxy_requests_total${labels({ provider, model, status })} ${n}`,
        );
      }
    }
  }

  const totals = countsOf(data, "all", "");
  head("llm_proxy_retries_total", "counter", "Attempts that failed over to another credential.");
  lines.push(`llm_proxy_retries_total ${totals.retries}`);
  head("llm_proxy_rate_limited_total", "counter", "Rate-limited upstream answers.");
  lines.push(`llm_proxy_rate_limited_total ${totals.rate_limited}`);
  head(
    "llm_proxy_ejections_total",
    "counter",
    "Credentials ejected after consecutive server-side failures.",
  );
  lines.push(`llm_proxy_ejections_total ${totals.ejections}`);
  head(
    "llm_proxy_panic_routings_total",
    "counter",
    "Attempts sent to an ejected credential because every credential for the model was out.",
  );
  lines.push(`llm_proxy_panic_routings_total ${totals.panics}`);

  head("llm_proxy_tokens_total", "counter", "Tokens reported by upstreams.");
  for (const [provider, counts] of Object.entries(dimension(data, "provider"))) {
    lines.push(
      `llm_proxy_tokens_total${labels({ provider, direction: "input" })} ${counts.input_tokens}`,
    );
    lines.push(
      `llm_proxy_tokens_total${labels({ provider, direction: "output" })} ${counts.output_tokens}`,
    );
  }

  for (
    const [kind, name, help] of [
      ["latency", "llm_proxy_request_duration_seconds", "Total request time."],
      ["ttfb", "llm_proxy_time_to_first_byte_seconds", "Time to the first byte of the answer."],
    ] as const
  ) {
    head(name, "histogram", help);
    for (const [provider, buckets] of data.histograms.get(kind) ?? []) {
      let cumulative = 0;
      let sum = 0;
      buckets.forEach((n, i) => {
        cumulative += n;
        // The sum is estimated from bucket midpoints: exact sums are not kept.
        const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1];
        const hi = LATENCY_BUCKETS_MS[i] ?? lo;
        sum += n * (lo + hi) / 2 / 1000;
        const le = i < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[i] / 1000) : "+Inf";
        lines.push(`${name}_bucket${labels({ provider, le })} ${cumulative}`);
      });
      lines.push(`${name}_sum${labels({ provider })} ${sum.toFixed(3)}`);
      lines.push(`${name}_count${labels({ provider })} ${cumulative}`);
    }
  }

  head("llm_proxy_uptime_seconds", "gauge", "Seconds since this instance started.");
  lines.push(`llm_proxy_uptime_seconds ${Math.round(uptimeSeconds)}`);
  return lines.join("\n") + "\n";
}

/** Prometheus label set text, values escaped. */
export function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `{${parts.join(",")}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
