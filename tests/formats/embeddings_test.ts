import assert from "node:assert/strict";
import { GatewayError } from "../../src/errors.ts";
import { geminiEmbedToIr, irToGeminiEmbeddings } from "../../src/formats/gemini/embeddings.ts";
import { irToOpenAIEmbeddings, openAIEmbedToIr } from "../../src/formats/openai_embeddings.ts";
import { base64ToVector, vectorToBase64 } from "../../src/ir/embeddings.ts";

Deno.test("base64 vectors are float32 little-endian, as OpenAI encodes them", () => {
  const v = [0.5, -1.25, 3, 0];
  const b64 = vectorToBase64(v);
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  assert.deepEqual([...new Float32Array(bytes.buffer)], v);
  assert.deepEqual(base64ToVector(b64), v);
  const big = Array.from({ length: 3072 }, (_, i) => i / 1024);
  assert.deepEqual(base64ToVector(vectorToBase64(big)), big);
});

Deno.test("OpenAI embedding requests: every input shape, and a 400 for the rest", () => {
  assert.deepEqual(openAIEmbedToIr({ model: "m", input: "a" }).ir.input, ["a"]);
  assert.deepEqual(openAIEmbedToIr({ model: "m", input: ["a", "b"] }).ir.input, ["a", "b"]);
  assert.deepEqual(openAIEmbedToIr({ model: "m", input: [1, 2] }).ir.input, [[1, 2]]);
  assert.deepEqual(openAIEmbedToIr({ model: "m", input: [[1], [2]] }).ir.input, [[1], [2]]);
  const { ir, encoding } = openAIEmbedToIr({
    model: "m",
    input: "a",
    dimensions: 3,
    encoding_format: "base64",
  });
  assert.equal(ir.dimensions, 3);
  assert.equal(encoding, "base64");
  for (
    const bad of [
      null,
      [],
      { input: "a" },
      { model: "m" },
      { model: "m", input: ["a", 1] },
      { model: "m", input: [[1.5]] },
      { model: "m", input: Array(2049).fill("a") },
      { model: "m", input: "a", dimensions: 1.5 },
      { model: "m", input: "a", encoding_format: "int8" },
    ]
  ) {
    assert.throws(
      () => openAIEmbedToIr(bad),
      (e) => e instanceof GatewayError && e.status === 400,
      JSON.stringify(bad)?.slice(0, 60),
    );
  }
  const out = irToOpenAIEmbeddings(
    { vectors: [[1, 2]], inputTokens: 3, estimated: true },
    "m",
    "float",
  );
  assert.deepEqual(out, {
    object: "list",
    data: [{ object: "embedding", index: 0, embedding: [1, 2] }],
    model: "m",
    usage: { prompt_tokens: 3, total_tokens: 3 },
  });
});

Deno.test("Gemini embedding requests: single, batch, and a batch that disagrees is a 400", () => {
  const one = geminiEmbedToIr(
    {
      content: { parts: [{ text: "a" }, { text: "b" }] },
      outputDimensionality: 4,
      taskType: "CLUSTERING",
    },
    "g",
    false,
  );
  assert.deepEqual(one, { model: "g", input: ["a\nb"], dimensions: 4, taskType: "CLUSTERING" });
  const batch = geminiEmbedToIr(
    {
      requests: [{ model: "models/g", content: { parts: [{ text: "x" }] } }, {
        content: { parts: [{ text: "y" }] },
      }],
    },
    "g",
    true,
  );
  assert.deepEqual(batch.input, ["x", "y"]);
  for (
    const [bad, isBatch] of [
      [{}, false],
      [{ content: { parts: [] } }, false],
      [{ content: { parts: [{ inlineData: {} }] } }, false],
      [{ requests: [] }, true],
      [{
        requests: [
          { content: { parts: [{ text: "x" }] }, outputDimensionality: 3 },
          { content: { parts: [{ text: "y" }] } },
        ],
      }, true],
    ] as const
  ) {
    assert.throws(
      () => geminiEmbedToIr(bad, "g", isBatch),
      (e) => e instanceof GatewayError && e.status === 400,
    );
  }
  const result = { vectors: [[1], [2]], inputTokens: 0, estimated: true };
  assert.deepEqual(irToGeminiEmbeddings(result, true), {
    embeddings: [{ values: [1] }, { values: [2] }],
  });
  assert.deepEqual(irToGeminiEmbeddings(result, false), { embedding: { values: [1] } });
});
