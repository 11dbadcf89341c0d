import assert from "node:assert/strict";
import { PROVIDER_TYPES } from "../../src/config/schema.ts";
import { descriptorFor, driverFor, upstreamFor } from "../../src/upstreams/registry.ts";

Deno.test("registry: every provider type the config accepts has its own adapter", () => {
  for (const type of PROVIDER_TYPES) {
    const d = descriptorFor(type);
    assert.equal(d.adapter.type, type);
    assert.equal(upstreamFor(type), d.adapter);
    assert.equal(driverFor(type), d.driver);
  }
});

Deno.test("registry: a native format comes with the adapter's forwarding path", () => {
  for (const type of PROVIDER_TYPES) {
    const d = descriptorFor(type);
    assert.equal(d.nativeFormat !== undefined, d.adapter.forwardNative !== undefined, type);
  }
  assert.equal(descriptorFor("openai").nativeFormat, "openai_chat");
  assert.equal(descriptorFor("anthropic").nativeFormat, "anthropic");
  assert.equal(descriptorFor("vertex").nativeFormat, "gemini");
});

Deno.test("registry: stored accounts for OAuth types; stream recovery by default for Gemini's", () => {
  const withDriver = PROVIDER_TYPES.filter((t) => driverFor(t) !== undefined);
  assert.deepEqual(withDriver, ["gemini-cli", "qwen", "vertex", "bedrock", "azure-openai"]);
  const recovered = PROVIDER_TYPES.filter((t) => descriptorFor(t).streamRecovery);
  assert.deepEqual(recovered, ["gemini", "gemini-cli"]);
});
