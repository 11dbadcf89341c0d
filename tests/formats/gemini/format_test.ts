import assert from "node:assert/strict";
import { estimateInputTokens } from "../../../src/ir/estimate_tokens.ts";
import {
  countTokensResponse,
  geminiFormat,
  geminiModelFromPath,
} from "../../../src/formats/gemini/format.ts";

Deno.test("geminiModelFromPath parses model and method, including dots and dashes", () => {
  assert.deepEqual(geminiModelFromPath("/v1beta/models/gemini-2.5-flash:generateContent"), {
    model: "gemini-2.5-flash",
    method: "generateContent",
  });
  assert.deepEqual(geminiModelFromPath("/v1/models/gemini-3-pro-preview:streamGenerateContent"), {
    model: "gemini-3-pro-preview",
    method: "streamGenerateContent",
  });
  assert.deepEqual(geminiModelFromPath("/v1beta/models/my%20alias.v2:countTokens"), {
    model: "my alias.v2",
    method: "countTokens",
  });
  for (
    const bad of [
      "/v1beta/models/gemini-2.5-flash",
      "/v1beta/models/:generateContent",
      "/v1beta/models/a/b:generateContent",
      "/v1beta/models/x:predict",
      "/v2/models/x:generateContent",
      "/v1beta/models/%E0%A4%A:generateContent",
    ]
  ) assert.equal(geminiModelFromPath(bad), undefined, bad);
});

Deno.test("countTokensResponse estimates locally", () => {
  const ir = geminiFormat.toIr({ contents: [{ parts: [{ text: "12345678" }] }] }, { model: "m" });
  assert.deepEqual(countTokensResponse(estimateInputTokens(ir)), { totalTokens: 6 });
});

Deno.test("format object: id, caller, stream content type by hints.sse", () => {
  assert.equal(geminiFormat.id, "gemini");
  assert.equal(geminiFormat.caller, "gemini");
  const ir = geminiFormat.toIr({ contents: [{ parts: [{ text: "x" }] }] }, {
    model: "m",
    stream: true,
    sse: true,
  });
  assert.equal(ir.stream, true);
  assert.equal(geminiFormat.encodeStream(ir, { sse: true }).contentType, "text/event-stream");
  assert.match(geminiFormat.encodeStream(ir, { sse: false }).contentType, /^application\/json/);
});
