/**
 * Image URLs sent to a Gemini upstream, end to end: the SSRF guard refuses loopback in the
 * spelling `new URL()` normalises to hex (`[::ffff:7f00:1]`), and a request with more image URLs
 * than `limits.image_fetch.max_images` is refused before anything is downloaded. Both are the
 * client's fault: a 400 in the caller's own error shape, and the upstream is never called.
 */
import assert from "node:assert/strict";
import { startFakeGemini } from "../fakes/gemini_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 7, 7, 7]);

Deno.test("e2e image URLs → Gemini upstream: guard bypass spellings and too many URLs get 400", async () => {
  const gemini = await startFakeGemini();
  let hits = 0;
  const images = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    hits++;
    return new Response(PNG, { headers: { "content-type": "image/png" } });
  });
  const port = images.addr.port;
  const gw = await startTestGateway({
    providers: [{
      id: "ge",
      type: "gemini",
      base_url: gemini.url,
      api_keys: ["AIza-fake-image-key-0000000000"],
      models: ["ge-*"],
    }],
    limits: { image_fetch: { max_images: 16 } },
  });
  const openai = (urls: string[]) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "ge-model",
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            ...urls.map((url) => ({ type: "image_url", image_url: { url } })),
          ],
        }],
      }),
    });
  const anthropic = (urls: string[]) =>
    fetch(`${gw.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "ge-model",
        max_tokens: 16,
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            ...urls.map((url) => ({ type: "image", source: { type: "url", url } })),
          ],
        }],
      }),
    });
  try {
    for (
      const host of [`[::ffff:127.0.0.1]:${port}`, `[::ffff:7f00:1]:${port}`, `127.0.0.1:${port}`]
    ) {
      const res = await openai([`http://${host}/cat.png`]);
      const body = await res.json();
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error.code, "invalid_image_url");
      assert.match(body.error.message, /private or loopback/);
    }
    const anth = await anthropic([`http://[::ffff:127.0.0.1]:${port}/cat.png`]);
    const anthBody = await anth.json();
    assert.equal(anth.status, 400, JSON.stringify(anthBody));
    assert.equal(anthBody.type, "error");
    assert.equal(anthBody.error.type, "invalid_request_error");
    assert.match(anthBody.error.message, /private or loopback/);

    // 30 URLs in a 3 KB request: refused outright, nothing downloaded.
    const urls = Array.from({ length: 30 }, (_, i) => `https://images.example/${i}.png`);
    const many = await openai(urls);
    const manyBody = await many.json();
    assert.equal(many.status, 400, JSON.stringify(manyBody));
    assert.equal(manyBody.error.code, "too_many_images");
    assert.match(manyBody.error.message, /30 image URLs; at most 16/);

    assert.equal(hits, 0, "the image server was never reached");
    assert.equal(gemini.requests.length, 0, "the upstream was never called");
  } finally {
    await gw.close();
    await images.shutdown();
    await gemini.close();
  }
});

Deno.test("e2e image URLs → Gemini upstream: the operator's passthrough.allow_hosts lets a private image host through the gateway", async () => {
  const gemini = await startFakeGemini();
  let hits = 0;
  const images = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    hits++;
    return new Response(PNG, { headers: { "content-type": "image/png" } });
  });
  const host = `127.0.0.1:${images.addr.port}`;
  const gw = await startTestGateway({
    providers: [{
      id: "ge",
      type: "gemini",
      base_url: gemini.url,
      api_keys: ["AIza-fake-image-key-0000000000"],
      models: ["ge-*"],
    }],
    passthrough: { allow_hosts: [host] },
  });
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "ge-model",
        messages: [{
          role: "user",
          content: [{ type: "text", text: "what is this?" }, {
            type: "image_url",
            image_url: { url: `http://${host}/cat.png` },
          }],
        }],
      }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.body?.cancel();
    assert.equal(hits, 1);
    const sent = JSON.stringify(gemini.requests[0].body);
    assert.match(sent, /"inlineData":\{"mimeType":"image\/png"/);
  } finally {
    await gw.close();
    await images.shutdown();
    await gemini.close();
  }
});
