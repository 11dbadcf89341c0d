import assert from "node:assert/strict";
import { AttemptContext } from "../../src/routing/attempt_context.ts";
import type { ProviderConfig } from "../../src/config/schema.ts";

const provider = { id: "p", type: "openai", api_keys: ["sk-1"] } as unknown as ProviderConfig;

Deno.test("attempt context: the client's signal is produced only when an adapter asks for it", () => {
  let asked = 0;
  const signal = new AbortController().signal;
  const ctx = new AttemptContext({
    provider,
    model: "m",
    clientHeaders: new Headers(),
    signal: () => {
      asked++;
      return signal;
    },
    apiKey: "sk-1",
  });
  assert.equal(asked, 0);
  assert.equal(ctx.model, "m");
  assert.equal(ctx.apiKey, "sk-1");
  assert.equal(ctx.account, undefined);
  assert.equal(ctx.signal, signal);
  assert.equal(asked, 1);
});

Deno.test("attempt context: one shared getter, no closure per attempt", () => {
  const make = () =>
    new AttemptContext({
      provider,
      model: "m",
      clientHeaders: new Headers(),
      signal: () => new AbortController().signal,
    });
  const a = make();
  const b = make();
  // The getter lives on the prototype: an object literal's getter was a new function per
  // attempt, which kept each request's objects alive through young-generation GCs.
  assert.equal(Object.getOwnPropertyDescriptor(a, "signal"), undefined);
  assert.equal(
    Object.getOwnPropertyDescriptor(Object.getPrototypeOf(a), "signal")?.get,
    Object.getOwnPropertyDescriptor(Object.getPrototypeOf(b), "signal")?.get,
  );
});
