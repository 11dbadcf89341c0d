/**
 * One driver per client SDK, each doing the same things the way that SDK's users do them,
 * so the matrix test can run every inbound format against every upstream type.
 */
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";

export const TOOL = {
  name: "get_weather",
  description: "Weather for a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
  },
};

/** A 1×1 PNG, small enough for every format's inline image. */
export const PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

export interface ToolRoundTrip {
  name: string;
  args: Record<string, unknown>;
  final: string;
}

export interface SdkDriver {
  readonly name: string;
  text(model: string, prompt: string): Promise<string>;
  streamText(model: string, prompt: string): Promise<{ text: string; chunks: number }>;
  toolRoundTrip(model: string, result: string): Promise<ToolRoundTrip>;
  image(model: string): Promise<string>;
  /** Resolves to the HTTP status the SDK reports for a failing call. */
  errorStatus(model: string, stream: boolean): Promise<number>;
}

function statusOf(err: unknown): number {
  const s = (err as { status?: unknown; code?: unknown }).status;
  if (typeof s === "number") return s;
  const c = (err as { code?: unknown }).code;
  return typeof c === "number" ? c : -1;
}

export function openAIChatDriver(baseUrl: string, apiKey: string): SdkDriver {
  const client = new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
  const tools = [{ type: "function" as const, function: TOOL }];
  return {
    name: "openai-chat",
    async text(model, prompt) {
      const r = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: prompt }],
      });
      return r.choices[0].message.content ?? "";
    },
    async streamText(model, prompt) {
      const s = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: prompt }],
        stream: true,
      });
      let text = "";
      let chunks = 0;
      for await (const c of s) {
        chunks++;
        text += c.choices[0]?.delta.content ?? "";
      }
      return { text, chunks };
    },
    async toolRoundTrip(model, result) {
      const first = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: "weather in Paris?" }],
        tools,
      });
      const call = first.choices[0].message.tool_calls?.[0];
      if (!call || call.type !== "function") throw new Error("no tool call");
      const second = await client.chat.completions.create({
        model,
        messages: [
          { role: "user", content: "weather in Paris?" },
          { role: "assistant", content: null, tool_calls: [call] },
          { role: "tool", tool_call_id: call.id, content: result },
        ],
        tools,
      });
      return {
        name: call.function.name,
        args: JSON.parse(call.function.arguments),
        final: second.choices[0].message.content ?? "",
      };
    },
    async image(model) {
      const r = await client.chat.completions.create({
        model,
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${PNG_BASE64}` } },
          ],
        }],
      });
      return r.choices[0].message.content ?? "";
    },
    async errorStatus(model, stream) {
      try {
        if (stream) {
          const s = await client.chat.completions.create({
            model,
            messages: [{ role: "user", content: "x" }],
            stream: true,
          });
          for await (const _ of s) { /* drain */ }
        } else {
          await client.chat.completions.create({
            model,
            messages: [{ role: "user", content: "x" }],
          });
        }
      } catch (err) {
        return statusOf(err);
      }
      throw new Error("expected an error");
    },
  };
}

export function openAIResponsesDriver(baseUrl: string, apiKey: string): SdkDriver {
  const client = new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
  const tools = [{ type: "function" as const, strict: false, ...TOOL }];
  return {
    name: "openai-responses",
    async text(model, prompt) {
      const r = await client.responses.create({ model, input: prompt, store: false });
      return r.output_text;
    },
    async streamText(model, prompt) {
      const s = await client.responses.create({ model, input: prompt, stream: true, store: false });
      let text = "";
      let chunks = 0;
      let completed = false;
      for await (const e of s) {
        chunks++;
        if (e.type === "response.output_text.delta") text += e.delta;
        if (e.type === "response.completed") completed = true;
      }
      if (!completed) throw new Error("no response.completed");
      return { text, chunks };
    },
    async toolRoundTrip(model, result) {
      const first = await client.responses.create({
        model,
        input: "weather in Paris?",
        tools,
        store: false,
      });
      const call = first.output.find((o) => o.type === "function_call");
      if (!call || call.type !== "function_call") throw new Error("no tool call");
      const second = await client.responses.create({
        model,
        store: false,
        tools,
        input: [
          { role: "user", content: "weather in Paris?" },
          {
            type: "function_call",
            call_id: call.call_id,
            name: call.name,
            arguments: call.arguments,
          },
          { type: "function_call_output", call_id: call.call_id, output: result },
        ],
      });
      return { name: call.name, args: JSON.parse(call.arguments), final: second.output_text };
    },
    async image(model) {
      const r = await client.responses.create({
        model,
        store: false,
        input: [{
          role: "user",
          content: [
            { type: "input_text", text: "what is this?" },
            {
              type: "input_image",
              image_url: `data:image/png;base64,${PNG_BASE64}`,
              detail: "auto",
            },
          ],
        }],
      });
      return r.output_text;
    },
    async errorStatus(model, stream) {
      try {
        if (stream) {
          const s = await client.responses.create({
            model,
            input: "x",
            stream: true,
            store: false,
          });
          for await (const _ of s) { /* drain */ }
        } else {
          await client.responses.create({ model, input: "x", store: false });
        }
      } catch (err) {
        return statusOf(err);
      }
      throw new Error("expected an error");
    },
  };
}

export function anthropicDriver(baseUrl: string, apiKey: string): SdkDriver {
  const client = new Anthropic({ apiKey, baseURL: baseUrl, maxRetries: 0 });
  const tools = [{
    name: TOOL.name,
    description: TOOL.description,
    input_schema: TOOL.parameters as Anthropic.Tool.InputSchema,
  }];
  const textOf = (m: Anthropic.Message): string =>
    m.content.map((b) => (b.type === "text" ? b.text : "")).join("");
  return {
    name: "anthropic",
    async text(model, prompt) {
      const m = await client.messages.create({
        model,
        max_tokens: 256,
        messages: [{ role: "user", content: prompt }],
      });
      return textOf(m);
    },
    async streamText(model, prompt) {
      const s = client.messages.stream({
        model,
        max_tokens: 256,
        messages: [{ role: "user", content: prompt }],
      });
      let chunks = 0;
      s.on("streamEvent", () => chunks++);
      const m = await s.finalMessage();
      return { text: textOf(m), chunks };
    },
    async toolRoundTrip(model, result) {
      const first = await client.messages.create({
        model,
        max_tokens: 256,
        tools,
        messages: [{ role: "user", content: "weather in Paris?" }],
      });
      const use = first.content.find((b) => b.type === "tool_use");
      if (!use || use.type !== "tool_use") throw new Error("no tool_use");
      const second = await client.messages.create({
        model,
        max_tokens: 256,
        tools,
        messages: [
          { role: "user", content: "weather in Paris?" },
          { role: "assistant", content: first.content },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: use.id, content: result }],
          },
        ],
      });
      return { name: use.name, args: use.input as Record<string, unknown>, final: textOf(second) };
    },
    async image(model) {
      const m = await client.messages.create({
        model,
        max_tokens: 256,
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            {
              type: "image",
              source: { type: "base64", media_type: "image/png", data: PNG_BASE64 },
            },
          ],
        }],
      });
      return textOf(m);
    },
    async errorStatus(model, stream) {
      try {
        if (stream) {
          await client.messages.stream({
            model,
            max_tokens: 64,
            messages: [{ role: "user", content: "x" }],
          }).finalMessage();
        } else {
          await client.messages.create({
            model,
            max_tokens: 64,
            messages: [{ role: "user", content: "x" }],
          });
        }
      } catch (err) {
        return statusOf(err);
      }
      throw new Error("expected an error");
    },
  };
}

export function geminiDriver(baseUrl: string, apiKey: string): SdkDriver {
  const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
  const config = {
    tools: [{
      functionDeclarations: [{
        ...TOOL,
        parametersJsonSchema: TOOL.parameters,
        parameters: undefined,
      }],
    }],
  };
  return {
    name: "gemini",
    async text(model, prompt) {
      const r = await ai.models.generateContent({ model, contents: prompt });
      return r.text ?? "";
    },
    async streamText(model, prompt) {
      const s = await ai.models.generateContentStream({ model, contents: prompt });
      let text = "";
      let chunks = 0;
      for await (const c of s) {
        chunks++;
        text += c.text ?? "";
      }
      return { text, chunks };
    },
    async toolRoundTrip(model, result) {
      const first = await ai.models.generateContent({
        model,
        contents: "weather in Paris?",
        config,
      });
      const call = first.functionCalls?.[0];
      if (!call?.name) throw new Error("no function call");
      const second = await ai.models.generateContent({
        model,
        config,
        contents: [
          { role: "user", parts: [{ text: "weather in Paris?" }] },
          { role: "model", parts: [{ functionCall: call }] },
          {
            role: "user",
            parts: [{ functionResponse: { name: call.name, response: { result } } }],
          },
        ],
      });
      return { name: call.name, args: call.args ?? {}, final: second.text ?? "" };
    },
    async image(model) {
      const r = await ai.models.generateContent({
        model,
        contents: [{
          role: "user",
          parts: [{ text: "what is this?" }, {
            inlineData: { mimeType: "image/png", data: PNG_BASE64 },
          }],
        }],
      });
      return r.text ?? "";
    },
    async errorStatus(model, stream) {
      try {
        if (stream) {
          const s = await ai.models.generateContentStream({ model, contents: "x" });
          for await (const _ of s) { /* drain */ }
        } else {
          await ai.models.generateContent({ model, contents: "x" });
        }
      } catch (err) {
        return statusOf(err);
      }
      throw new Error("expected an error");
    },
  };
}
