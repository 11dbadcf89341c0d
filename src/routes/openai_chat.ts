import type { Context } from "hono";
import type { RuntimeState } from "../config/store.ts";
import { NotFoundError, RequestError } from "../errors.ts";
import { chatRequestToIr } from "../formats/openai_chat/request.ts";
import { irResponseToChat } from "../formats/openai_chat/response.ts";
import { chatRequestSchema } from "../formats/openai_chat/schema.ts";
import { IrToChatSseStream } from "../formats/openai_chat/stream.ts";
import { readJsonBody } from "../http/body.ts";
import type { KeyRotator } from "../accounts/key_rotation.ts";
import { forwardOpenAI } from "../upstreams/openai/forward.ts";
import { irUpstreamFor } from "../upstreams/registry.ts";

export interface ChatRouteDeps {
  state: () => RuntimeState;
  keys: KeyRotator;
}

/** `POST /v1/chat/completions`: validate, route by model, forward or convert. */
export function chatCompletionsHandler(deps: ChatRouteDeps): (c: Context) => Promise<Response> {
  return async (c) => {
    const state = deps.state();
    const { raw, json } = await readJsonBody(c.req.raw, state.config.limits.max_body_bytes);
    const parsed = chatRequestSchema.safeParse(json);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    const body = parsed.data;

    const routes = state.routing.resolve(body.model);
    if (routes.length === 0) {
      throw new NotFoundError(
        `The model '${body.model}' does not exist or is not routable on this gateway.`,
        "model_not_found",
      );
    }
    const route = routes[0];
    const provider = route.provider;
    const signal = c.req.raw.signal;
    const apiKey = deps.keys.pick(provider.id, provider.api_keys);

    if (provider.type === "openai") {
      // Raw bytes go upstream unchanged unless an alias renames the model.
      const upstreamBody = route.model === body.model
        ? raw
        : JSON.stringify({ ...(json as Record<string, unknown>), model: route.model });
      return await forwardOpenAI({
        provider,
        path: "/chat/completions",
        body: upstreamBody,
        apiKey,
        stream: body.stream === true,
        signal,
      });
    }

    const upstream = irUpstreamFor(provider.type);
    if (!upstream) throw new NotFoundError(`The model '${body.model}' is not routable.`);
    const ir = chatRequestToIr(body);
    const ctx = { provider, model: route.model, apiKey, signal };
    if (!ir.stream) {
      return c.json(irResponseToChat(await upstream.send(ir, ctx)));
    }
    const events = await upstream.stream(ir, ctx);
    const sse = events.pipeThrough(
      new IrToChatSseStream({ includeUsage: ir.includeUsage === true }),
    );
    return new Response(sse, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  };
}

/** One clear sentence from the first validation problem, naming the field. */
export function describeIssue(
  issue: { path: ReadonlyArray<PropertyKey>; message: string } | undefined,
): string {
  if (!issue) return "Invalid request body.";
  const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`).join("")
    .replace(/^\./, "");
  return path === "" ? issue.message : `Invalid value for '${path}': ${issue.message}`;
}
