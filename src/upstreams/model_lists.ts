import { upstreamError } from "../errors.ts";
import { anthropicHeaders, anthropicMessagesUrl } from "./anthropic/adapter.ts";
import { anthropicErrorParser } from "./anthropic/errors.ts";
import { geminiBaseUrl } from "./gemini/adapter.ts";
import { geminiErrorParser } from "./gemini/errors.ts";
import { openAIErrorParser } from "./openai/errors.ts";
import { openAIBaseUrl } from "./openai/forward.ts";
import { getJsonFromApi } from "./post.ts";
import type { CallContext, DiscoveredModel } from "./types.ts";

/** Pages read at most from a paginated list (Anthropic, Gemini), so a loop cannot run away. */
const MAX_PAGES = 10;

/** OpenAI-compatible `GET {base}/models`: `{data: [{id, created, owned_by}]}`. */
export async function listOpenAIModels(ctx: CallContext): Promise<DiscoveredModel[]> {
  const headers = new Headers({ accept: "application/json" });
  for (const [k, v] of Object.entries(ctx.provider.headers)) headers.set(k, v);
  if (ctx.apiKey) headers.set("authorization", `Bearer ${ctx.apiKey}`);
  const json = await getJsonFromApi({
    url: `${openAIBaseUrl(ctx.provider)}/models`,
    headers,
    ctx,
    errorParser: openAIErrorParser,
  });
  return itemsOf(json, "data").flatMap((m) =>
    typeof m.id === "string" && m.id !== ""
      ? [{ id: m.id, ...(typeof m.created === "number" ? { created: m.created } : {}) }]
      : []
  );
}

/** Anthropic `GET /v1/models` (paginated by `after_id`): `{data: [{id, display_name, created_at}]}`. */
export async function listAnthropicModels(ctx: CallContext): Promise<DiscoveredModel[]> {
  const base = anthropicMessagesUrl(ctx.provider).replace(/\/messages$/, "/models");
  const headers = anthropicHeaders(ctx, { stream: false, native: false });
  headers.delete("content-type");
  const out: DiscoveredModel[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const url = `${base}?limit=1000${after ? `&after_id=${encodeURIComponent(after)}` : ""}`;
    const json = await getJsonFromApi({ url, headers, ctx, errorParser: anthropicErrorParser });
    for (const m of itemsOf(json, "data")) {
      if (typeof m.id !== "string" || m.id === "") continue;
      const model: DiscoveredModel = { id: m.id };
      if (typeof m.display_name === "string") model.display_name = m.display_name;
      const created = typeof m.created_at === "string" ? Date.parse(m.created_at) : NaN;
      if (Number.isFinite(created)) model.created = Math.floor(created / 1000);
      out.push(model);
    }
    const more = json as { has_more?: unknown; last_id?: unknown };
    if (more.has_more !== true || typeof more.last_id !== "string") break;
    after = more.last_id;
  }
  return out;
}

/** Gemini `models.list` (`GET /v1beta/models`, paginated by `pageToken`). */
export async function listGeminiModels(ctx: CallContext): Promise<DiscoveredModel[]> {
  const headers = new Headers({ accept: "application/json" });
  for (const [k, v] of Object.entries(ctx.provider.headers)) headers.set(k, v);
  if (ctx.apiKey) headers.set("x-goog-api-key", ctx.apiKey);
  const out: DiscoveredModel[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const url = `${geminiBaseUrl(ctx.provider)}/v1beta/models?pageSize=1000${
      token ? `&pageToken=${encodeURIComponent(token)}` : ""
    }`;
    const json = await getJsonFromApi({ url, headers, ctx, errorParser: geminiErrorParser });
    for (const m of itemsOf(json, "models")) {
      if (typeof m.name !== "string") continue;
      const id = m.name.replace(/^models\//, "");
      if (id === "") continue;
      out.push(typeof m.displayName === "string" ? { id, display_name: m.displayName } : { id });
    }
    const next = (json as { nextPageToken?: unknown }).nextPageToken;
    if (typeof next !== "string" || next === "") break;
    token = next;
  }
  return out;
}

/** The objects of a list answer's array field; anything else is `upstream_bad_body`. */
function itemsOf(json: unknown, field: string): Record<string, unknown>[] {
  const list = typeof json === "object" && json !== null ? Reflect.get(json, field) : undefined;
  if (!Array.isArray(list)) {
    throw upstreamError("upstream_bad_body", `The model list answered without a ${field} array.`);
  }
  return list.filter((m): m is Record<string, unknown> => typeof m === "object" && m !== null);
}
