import assert from "node:assert/strict";
import { anthropicCloudBody } from "../../../src/upstreams/anthropic/cloud_body.ts";

Deno.test("cloud body: model out, version in, stream kept or dropped, betas into the body", () => {
  const body = { model: "m", stream: true, max_tokens: 5, messages: [], extra: { x: 1 } };
  assert.deepEqual(
    anthropicCloudBody(body, { version: "bedrock-2023-05-31", keepStream: false, betas: ["b1"] }),
    {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 5,
      messages: [],
      extra: { x: 1 },
      anthropic_beta: ["b1"],
    },
  );
  assert.deepEqual(anthropicCloudBody(body, { version: "vertex-2023-10-16", keepStream: true }), {
    anthropic_version: "vertex-2023-10-16",
    max_tokens: 5,
    messages: [],
    extra: { x: 1 },
    stream: true,
  });
});

Deno.test("cloud body: system turns inside messages move to the end of the top-level system", () => {
  const out = anthropicCloudBody({
    model: "m",
    system: "top",
    messages: [
      {
        role: "system",
        content: [{ type: "text", text: "s1", cache_control: { type: "ephemeral" } }],
      },
      { role: "user", content: "hi" },
      { role: "system", content: "s2" },
    ],
  }, { version: "v", keepStream: false });
  assert.deepEqual(out.system, [
    { type: "text", text: "top" },
    { type: "text", text: "s1", cache_control: { type: "ephemeral" } },
    { type: "text", text: "s2" },
  ]);
  assert.deepEqual(out.messages, [{ role: "user", content: "hi" }]);
  // Without system turns the body's own system is untouched.
  const plain = anthropicCloudBody({ system: "only", messages: [] }, {
    version: "v",
    keepStream: false,
  });
  assert.equal(plain.system, "only");
});
