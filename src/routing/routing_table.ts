import type { Config, ProviderConfig } from "../config/schema.ts";

/** One way to serve a model: which provider, and the model name to send it. */
export interface Route {
  provider: ProviderConfig;
  model: string;
  priority: number;
  weight: number;
}

/** Model name → ordered candidate routes, plus the list of names clients may ask for. */
export interface RoutingTable {
  /** Candidates in the order to try them; empty when nothing serves the model. */
  resolve(model: string): Route[];
  /** Every routable model and alias name (wildcard entries are not listed). */
  models(): string[];
  /** The provider with this id, when it is enabled and routable. */
  provider(id: string): ProviderConfig | undefined;
}

/**
 * Builds the routing table for a config (enabled providers only; every provider type the
 * config accepts has an adapter, `src/upstreams/registry.ts`).
 */
export function buildRoutingTable(config: Config): RoutingTable {
  const providers = config.providers.filter((p) => p.enabled);
  const byId = new Map(providers.map((p) => [p.id, p]));
  const rank = (p: ProviderConfig): number => {
    const i = config.model_priority.indexOf(p.id);
    return i === -1 ? config.model_priority.length : i;
  };
  // Stable sort: providers not in model_priority keep their config order.
  const ordered = [...providers].sort((a, b) => rank(a) - rank(b));

  const exact = new Map<string, Route[]>();
  const patterns: Array<{ test: (m: string) => boolean; provider: ProviderConfig }> = [];
  for (const p of ordered) {
    for (const m of p.models) {
      if (m.includes("*")) {
        patterns.push({ test: globMatcher(m), provider: p });
      } else {
        const list = exact.get(m) ?? [];
        list.push({ provider: p, model: m, priority: rank(p), weight: 1 });
        exact.set(m, list);
      }
    }
  }

  const aliases = new Map<string, Route[]>();
  for (const [name, alias] of Object.entries(config.models)) {
    if (!alias.enabled) continue;
    const routes: Route[] = [];
    for (const r of alias.routes) {
      const provider = byId.get(r.provider);
      if (!r.enabled || !provider) continue;
      routes.push({ provider, model: r.model, priority: r.priority, weight: r.weight });
    }
    routes.sort((a, b) => a.priority - b.priority);
    if (routes.length > 0) aliases.set(name, routes);
  }

  const listed = [...new Set([...aliases.keys(), ...exact.keys()])].sort();

  // Smooth weighted round-robin (as nginx balances upstreams) inside each priority of an
  // alias: exact proportions over any window, no clumping, no randomness to drift.
  const current = new Map<string, number[]>();
  const balance = (name: string, routes: Route[]): Route[] => {
    const out: Route[] = [];
    let i = 0;
    while (i < routes.length) {
      let j = i;
      while (j < routes.length && routes[j].priority === routes[i].priority) j++;
      const group = routes.slice(i, j);
      if (group.length === 1) {
        out.push(group[0]);
      } else {
        const key = `${name}\u0000${routes[i].priority}`;
        const weights = current.get(key) ?? group.map(() => 0);
        const total = group.reduce((n, r) => n + r.weight, 0);
        let best = 0;
        group.forEach((r, k) => {
          weights[k] += r.weight;
          if (weights[k] > weights[best]) best = k;
        });
        weights[best] -= total;
        current.set(key, weights);
        // The chosen route first; the rest of the group follows as fallbacks by weight.
        const rest = group.filter((_, k) => k !== best).sort((a, b) => b.weight - a.weight);
        out.push(group[best], ...rest);
      }
      i = j;
    }
    return out;
  };

  return {
    resolve(model: string): Route[] {
      const alias = aliases.get(model);
      if (alias) return alias.length > 1 ? balance(model, alias) : alias;
      const direct = exact.get(model);
      if (direct) return direct;
      return patterns.filter((p) => p.test(model)).map((p) => ({
        provider: p.provider,
        model,
        priority: rank(p.provider),
        weight: 1,
      }));
    },
    models: () => listed,
    provider: (id: string) => byId.get(id),
  };
}

/** `*` matches any run of characters; everything else is literal. */
function globMatcher(pattern: string): (m: string) => boolean {
  const re = new RegExp(
    "^" + pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$",
  );
  return (m) => re.test(m);
}
