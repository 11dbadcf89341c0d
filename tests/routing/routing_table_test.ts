import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/load.ts";
import { buildRoutingTable, type Route } from "../../src/routing/routing_table.ts";

/** `provider/model@priority` for compact comparisons. */
function summary(routes: Route[]): string[] {
  return routes.map((r) => `${r.provider.id}/${r.model}@${r.priority}`);
}

function table(raw: Record<string, unknown>) {
  return buildRoutingTable(validateConfig(raw));
}

Deno.test("resolve: exact model names map to the providers that list them", () => {
  const t = table({
    providers: [
      { id: "a", type: "echo", models: ["m1", "shared"] },
      { id: "b", type: "echo", models: ["m2", "shared"] },
    ],
  });
  assert.deepEqual(summary(t.resolve("m1")), ["a/m1@0"]);
  assert.deepEqual(summary(t.resolve("m2")), ["b/m2@0"]);
  assert.deepEqual(summary(t.resolve("shared")), ["a/shared@0", "b/shared@0"]);
  assert.deepEqual(t.resolve("unknown"), []);
  assert.deepEqual(t.resolve("M1"), [], "model names are case-sensitive");
  const [route] = t.resolve("m1");
  assert.equal(route.weight, 1);
  assert.equal(route.provider.id, "a");
});

Deno.test("resolve: `*` matches any model and keeps the requested name", () => {
  const t = table({ providers: [{ id: "any", type: "echo", models: ["*"] }] });
  assert.deepEqual(summary(t.resolve("whatever-model")), ["any/whatever-model@0"]);
  assert.deepEqual(summary(t.resolve("a/b:c")), ["any/a/b:c@0"]);
});

Deno.test("resolve: `gpt-*` matches only that prefix; other characters are literal", () => {
  const t = table({
    providers: [
      { id: "oa", type: "echo", models: ["gpt-*", "o?.mini", "*-latest", "claude-*-sonnet"] },
    ],
  });
  assert.deepEqual(summary(t.resolve("gpt-4o")), ["oa/gpt-4o@0"]);
  assert.deepEqual(summary(t.resolve("gpt-")), ["oa/gpt-@0"]);
  assert.deepEqual(t.resolve("gpt4o"), []);
  assert.deepEqual(t.resolve("xgpt-4o"), []);
  assert.deepEqual(summary(t.resolve("o?.mini")), ["oa/o?.mini@0"]);
  assert.deepEqual(t.resolve("ox.mini"), [], "exact names with regex chars are not patterns");
  assert.deepEqual(summary(t.resolve("model-latest")), ["oa/model-latest@0"]);
  assert.deepEqual(summary(t.resolve("claude-3-5-sonnet")), ["oa/claude-3-5-sonnet@0"]);
  assert.deepEqual(t.resolve("claude-3-5-sonnet-x"), []);
});

Deno.test("resolve: regex metacharacters in patterns are matched literally", () => {
  const t = table({ providers: [{ id: "p", type: "echo", models: ["v1.0+(beta)*"] }] });
  assert.deepEqual(summary(t.resolve("v1.0+(beta)-x")), ["p/v1.0+(beta)-x@0"]);
  assert.deepEqual(t.resolve("v100+(beta)"), []);
  assert.deepEqual(t.resolve("v1.00(beta)"), []);
});

Deno.test("resolve: an exact name wins over wildcard patterns", () => {
  const t = table({
    providers: [
      { id: "wild", type: "echo", models: ["*"] },
      { id: "exact", type: "echo", models: ["gpt-4o"] },
    ],
  });
  assert.deepEqual(summary(t.resolve("gpt-4o")), ["exact/gpt-4o@0"]);
  assert.deepEqual(summary(t.resolve("other")), ["wild/other@0"]);
});

Deno.test("resolve: model_priority orders providers; unlisted ones keep config order", () => {
  const t = table({
    providers: [
      { id: "a", type: "echo", models: ["m", "gpt-*"] },
      { id: "b", type: "echo", models: ["m", "gpt-*"] },
      { id: "c", type: "echo", models: ["m", "gpt-*"] },
      { id: "d", type: "echo", models: ["m", "gpt-*"] },
    ],
    model_priority: ["c", "b"],
  });
  assert.deepEqual(summary(t.resolve("m")), ["c/m@0", "b/m@1", "a/m@2", "d/m@2"]);
  assert.deepEqual(summary(t.resolve("gpt-5")), [
    "c/gpt-5@0",
    "b/gpt-5@1",
    "a/gpt-5@2",
    "d/gpt-5@2",
  ]);
});

Deno.test("resolve: aliases list their routes sorted by priority and carry weights", () => {
  const t = table({
    providers: [
      { id: "a", type: "echo", models: ["smart"] },
      { id: "b", type: "echo" },
      { id: "c", type: "echo" },
    ],
    models: {
      smart: {
        routes: [
          { provider: "a", model: "a-model", priority: 3 },
          { provider: "b", model: "b-model", priority: 1, weight: 5 },
          { provider: "c", model: "c-model", priority: 2, weight: 0.25 },
          { provider: "a", model: "a-second", priority: 1 },
        ],
      },
    },
  });
  const routes = t.resolve("smart");
  // The alias wins over the exact model name "smart" on provider a.
  assert.deepEqual(summary(routes), ["b/b-model@1", "a/a-second@1", "c/c-model@2", "a/a-model@3"]);
  assert.deepEqual(routes.map((r) => r.weight), [5, 1, 0.25, 1]);
});

Deno.test("disabled providers, aliases and routes are excluded", () => {
  const t = table({
    providers: [
      { id: "on", type: "echo", models: ["m-on", "shared", "w-*"] },
      { id: "off", type: "echo", models: ["m-off", "shared", "*"], enabled: false },
    ],
    models: {
      alias1: {
        routes: [
          { provider: "off", model: "x" },
          { provider: "on", model: "m-on", enabled: false },
          { provider: "on", model: "kept", priority: 5 },
        ],
      },
      alias_disabled: { enabled: false, routes: [{ provider: "on", model: "m-on" }] },
      alias_dead: { routes: [{ provider: "off", model: "x" }] },
    },
  });
  assert.deepEqual(summary(t.resolve("shared")), ["on/shared@0"]);
  assert.deepEqual(t.resolve("m-off"), []);
  assert.deepEqual(t.resolve("anything"), [], "the disabled provider's `*` is gone");
  assert.deepEqual(summary(t.resolve("w-1")), ["on/w-1@0"]);
  assert.deepEqual(summary(t.resolve("alias1")), ["on/kept@5"]);
  assert.deepEqual(t.resolve("alias_disabled"), []);
  assert.deepEqual(t.resolve("alias_dead"), []);
  assert.equal(t.provider("on")?.id, "on");
  assert.equal(t.provider("off"), undefined);
  assert.deepEqual(t.models(), ["alias1", "m-on", "shared"]);
});

Deno.test("disabled providers are excluded everywhere", () => {
  const t = table({
    providers: [
      { id: "echo1", type: "echo", models: ["demo", "both"] },
      {
        id: "claude",
        type: "anthropic",
        models: ["claude-x", "both", "claude-*"],
        enabled: false,
      },
    ],
    models: {
      mixed: {
        routes: [{ provider: "claude", model: "claude-x" }, { provider: "echo1", model: "demo" }],
      },
      only_claude: { routes: [{ provider: "claude", model: "claude-x" }] },
    },
  });
  assert.deepEqual(summary(t.resolve("both")), ["echo1/both@0"]);
  assert.deepEqual(t.resolve("claude-x"), []);
  assert.deepEqual(t.resolve("claude-y"), []);
  assert.deepEqual(summary(t.resolve("mixed")), ["echo1/demo@1"]);
  assert.deepEqual(t.resolve("only_claude"), []);
  assert.equal(t.provider("claude"), undefined);
  assert.equal(t.provider("echo1")?.type, "echo");
  assert.deepEqual(t.models(), ["both", "demo", "mixed"]);
});

Deno.test("models() lists aliases and exact names, sorted, deduplicated, no wildcards", () => {
  const t = table({
    providers: [
      { id: "a", type: "echo", models: ["zeta", "gpt-*", "alpha", "*"] },
      { id: "b", type: "echo", models: ["alpha", "beta"] },
    ],
    models: {
      smart: { routes: [{ provider: "a", model: "zeta" }] },
      beta: { routes: [{ provider: "b", model: "beta" }] },
    },
  });
  assert.deepEqual(t.models(), ["alpha", "beta", "smart", "zeta"]);
});

Deno.test("an empty config routes nothing", () => {
  const t = table({});
  assert.deepEqual(t.models(), []);
  assert.deepEqual(t.resolve("anything"), []);
  assert.equal(t.provider("x"), undefined);
});
