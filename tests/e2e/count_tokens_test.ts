import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { startFakeGemini } from "../fakes/gemini_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/**
 * count_tokens is answered locally by estimate (no upstream call) unless a provider asks for
 * the upstream's own count; then the SDKs get the upstream's figure.
 */

const PROMPT = "count these tokens for me please";

for (const mode of ["estimate", "upstream"] as const) {
  Deno.test(`count_tokens (${mode}) through the Anthropic and Gemini SDKs`, async () => {
    const anthropic = await startFakeAnthropic();
    const gemini = await startFakeGemini();
    const gw = await startTestGateway({
      providers: [
        {
          id: "an",
          type: "anthropic",
          base_url: anthropic.url,
          api_keys: ["sk-ant-up-count"],
          models: ["claude-x"],
          count_tokens: mode,
        },
        {
          id: "ge",
          type: "gemini",
          base_url: gemini.url,
          api_keys: ["AIza-count-key-0000000000"],
          models: ["gemini-x"],
          count_tokens: mode,
        },
      ],
    });
    try {
      const claude = new Anthropic({ apiKey: "x", baseURL: gw.url, maxRetries: 0 });
      const a = await claude.messages.countTokens({
        model: "claude-x",
        messages: [{ role: "user", content: PROMPT }],
      });
      const ai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.url } });
      const g = await ai.models.countTokens({ model: "gemini-x", contents: PROMPT });
      const upstreamCalls = anthropic.requests.length + gemini.requests.length;
      if (mode === "estimate") {
        assert.equal(upstreamCalls, 0, "estimates never call upstream");
        assert.equal(a.input_tokens, 4 + Math.ceil(PROMPT.length / 4));
        assert.equal(g.totalTokens, 4 + Math.ceil(PROMPT.length / 4));
      } else {
        assert.equal(upstreamCalls, 2);
        // The fakes' own rules: Gemini counts characters of the last user text.
        assert.equal(g.totalTokens, PROMPT.length);
        assert.ok(a.input_tokens > 0);
        assert.equal(anthropic.requests[0].path, "/v1/messages/count_tokens");
      }
    } finally {
      await gw.close();
      await Promise.all([anthropic.close(), gemini.close()]);
    }
  });
}
