/** Shared helpers of the managed client key tests: admin calls and one request per format. */
import assert from "node:assert/strict";

export const ADMIN = "client-keys-admin-token";
export const OPERATOR = "sk-operator-key-0123456789";

/** A gateway config with two echo models, an operator key and the admin token. */
export function keysConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    auth: { api_keys: [OPERATOR], admin_token: ADMIN },
    providers: [{ id: "demo", type: "echo", models: ["demo", "cheap-1", "cheap-2"] }],
    observability: { flush_interval_ms: 100 },
    client_keys: { sync_ms: 200 },
    ...extra,
  };
}

export async function adminCall(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : JSON.parse(text) };
}

/** Creates a managed key; returns its id and secret. */
export async function createKey(
  url: string,
  settings: Record<string, unknown>,
): Promise<{ id: string; secret: string }> {
  const r = await adminCall(url, "POST", "/admin/keys", { label: "k", ...settings });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return { id: r.json.id as string, secret: r.json.key as string };
}

export type Format = "chat" | "responses" | "anthropic" | "gemini";
export const FORMATS: Format[] = ["chat", "responses", "anthropic", "gemini"];

/** One request in a client format, authenticated the way that format's SDK does it. */
export function ask(
  url: string,
  format: Format,
  key: string,
  options: { model?: string; stream?: boolean; text?: string } = {},
): Promise<Response> {
  const model = options.model ?? "demo";
  const stream = options.stream ?? false;
  const text = options.text ?? "hello there";
  const json = { "content-type": "application/json" };
  switch (format) {
    case "chat":
      return fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...json, authorization: `Bearer ${key}` },
        body: JSON.stringify({ model, stream, messages: [{ role: "user", content: text }] }),
      });
    case "responses":
      return fetch(`${url}/v1/responses`, {
        method: "POST",
        headers: { ...json, authorization: `Bearer ${key}` },
        body: JSON.stringify({ model, stream, input: text }),
      });
    case "anthropic":
      return fetch(`${url}/v1/messages`, {
        method: "POST",
        headers: { ...json, "x-api-key": key, "anthropic-version": "2023-06-01" },
        body: JSON.stringify({
          model,
          stream,
          max_tokens: 64,
          messages: [{ role: "user", content: text }],
        }),
      });
    case "gemini":
      return fetch(
        `${url}/v1beta/models/${model}:${
          stream ? "streamGenerateContent?alt=sse" : "generateContent"
        }`,
        {
          method: "POST",
          headers: { ...json, "x-goog-api-key": key },
          body: JSON.stringify({ contents: [{ role: "user", parts: [{ text }] }] }),
        },
      );
  }
}

/** Asserts an error answer's status and that its body has the format's error shape and type. */
export async function assertError(
  res: Response,
  format: Format,
  status: number,
  expected: { openai?: string; anthropic?: string; gemini?: string; code?: string },
): Promise<void> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  if (format === "anthropic") {
    assert.equal(body.type, "error");
    if (expected.anthropic) assert.equal(body.error.type, expected.anthropic);
  } else if (format === "gemini") {
    assert.equal(body.error.code, status);
    if (expected.gemini) assert.equal(body.error.status, expected.gemini);
  } else {
    if (expected.openai) assert.equal(body.error.type, expected.openai);
    if (expected.code) assert.equal(body.error.code, expected.code);
  }
}

/**
 * Waits (at most a few seconds) when the UTC minute is about to end, so that a test of a
 * per-minute limit does not straddle two windows.
 */
export async function awayFromMinuteEnd(margin = 5000): Promise<void> {
  const left = 60_000 - Date.now() % 60_000;
  if (left < margin) await new Promise((r) => setTimeout(r, left + 50));
}
