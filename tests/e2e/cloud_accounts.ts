import assert from "node:assert/strict";
import { PNG_BASE64, type SdkDriver } from "./sdk_drivers.ts";
import type { TestGateway } from "./start_gateway.ts";

/** What the cloud-credential e2e tests (Bedrock, Vertex Claude, Azure) share. */

/** `POST /admin/credentials/{provider}` with the body as JSON. */
export async function seedAccount(
  gw: TestGateway,
  adminToken: string,
  provider: string,
  body: unknown,
): Promise<Response> {
  return await fetch(`${gw.url}/admin/credentials/${provider}`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** The admin list of accounts. */
export async function listAccounts(
  gw: TestGateway,
  adminToken: string,
): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${gw.url}/admin/credentials`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  return (await res.json()).accounts;
}

/**
 * One SDK's basics through an upstream: text, streaming in several chunks, the get_weather
 * round trip (`models.weather` answers with the tool call, then quotes its result) and an image
 * that must reach the upstream (`lastBody` is the upstream's last request body as text).
 */
export async function checkSdkBasics(
  d: SdkDriver,
  models: { text: string; weather: string },
  lastBody: () => string,
): Promise<void> {
  assert.match(await d.text(models.text, "ping one two"), /ping one two/);
  const { text, chunks } = await d.streamText(models.text, "stream three four five");
  assert.match(text, /stream three four five/);
  assert.ok(chunks > 2, `streamed in several chunks (${chunks})`);
  const r = await d.toolRoundTrip(models.weather, "sunny and 21C");
  assert.equal(r.name, "get_weather");
  assert.deepEqual(r.args, { city: "Paris" });
  assert.match(r.final, /sunny and 21C/);
  await d.image(models.text);
  assert.ok(lastBody().includes(PNG_BASE64), "image data forwarded");
}
