import assert from "node:assert/strict";
import OpenAI from "openai";
import { GoogleGenAI } from "@google/genai";
import { startTestGateway } from "./start_gateway.ts";
import { createKey, keysConfig, OPERATOR } from "./client_keys_helpers.ts";

Deno.test("/v1/models and the Gemini model list show only a key's allowed models (official SDKs)", async () => {
  const gw = await startTestGateway(keysConfig());
  try {
    const { secret } = await createKey(gw.url, { models: ["cheap-*"] });
    const openai = (key: string) =>
      new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ids = async (key: string) => {
      const out: string[] = [];
      for await (const m of openai(key).models.list()) out.push(m.id);
      return out.sort();
    };
    assert.deepEqual(await ids(secret), ["cheap-1", "cheap-2"]);
    assert.deepEqual(await ids(OPERATOR), ["cheap-1", "cheap-2", "demo"]);

    const names = async (key: string) => {
      const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url } });
      const out: string[] = [];
      for await (const m of await ai.models.list()) out.push(m.name ?? "");
      return out.sort();
    };
    assert.deepEqual(await names(secret), ["models/cheap-1", "models/cheap-2"]);
    assert.deepEqual(await names(OPERATOR), ["models/cheap-1", "models/cheap-2", "models/demo"]);

    // A key without an allowlist sees everything.
    const { secret: open } = await createKey(gw.url, {});
    assert.deepEqual(await ids(open), ["cheap-1", "cheap-2", "demo"]);
  } finally {
    await gw.close();
  }
});
