import type { Context } from "hono";
import { NotFoundError, RequestError } from "../errors.ts";
import type { Logger } from "../observe/logger.ts";
import type { ResponseStore, StoredResponse } from "../responses_state/store.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { type SseEvent, sseParserTransformer } from "../sse.ts";
import type { ConversationHooks } from "./conversation.ts";

/**
 * Stateful Responses on any upstream (`responses.store: true`): `store`d answers are kept in
 * KV under the client identity that made them (`src/responses_state/store.ts`);
 * `previous_response_id` rebuilds the transcript from them (the earlier input, the earlier
 * output, then the new input), so the upstream gets a stateless request whatever it is.
 * `store` defaults to true, as on OpenAI; `store: false` (Codex) keeps nothing.
 */
export interface ResponsesStateDeps {
  state: () => RuntimeState;
  /** Absent when the gateway runs without a KV it may store responses in. */
  store?: ResponseStore;
  logger: Logger;
}

/** Whether stored responses are on for this request. */
export function storingResponses(deps: ResponsesStateDeps): deps is ResponsesStateDeps & {
  store: ResponseStore;
} {
  return deps.store !== undefined && deps.state().config.responses.store;
}

/** The hooks `POST /v1/responses` runs with (they do nothing while the setting is off). */
export function responsesStateHooks(deps: ResponsesStateDeps): ConversationHooks {
  return {
    async rewrite(json, _req, owner) {
      const body = json as Record<string, unknown>;
      if (!storingResponses(deps) || !isRecord(json)) return body;
      const previous = json.previous_response_id;
      if (previous === undefined || previous === null) return body;
      if (typeof previous !== "string") {
        throw new RequestError("Invalid type for 'previous_response_id': expected a string.");
      }
      const record = await deps.store.get(owner, previous);
      if (!record) {
        throw new RequestError(
          `Previous response with id '${previous}' not found.`,
          "previous_response_not_found",
        );
      }
      const { previous_response_id: _, ...rest } = json;
      const output = Array.isArray(record.response.output) ? record.response.output : [];
      return { ...rest, input: [...record.input, ...output, ...inputItems(json.input)] };
    },
    async answered(res, json, _req, owner) {
      if (!storingResponses(deps) || json.store === false || !res.ok || !res.body) return res;
      const input = inputItems(json.input);
      const ttlMs = deps.state().config.responses.ttl_days * 86_400_000;
      const keep = async (response: Record<string, unknown>): Promise<void> => {
        if (typeof response.id !== "string") return;
        const record: StoredResponse = { input, response };
        try {
          await deps.store.put(owner, response.id, record, ttlMs);
        } catch (err) {
          // The answer still reaches the client; continuing from it will say it is not found.
          deps.logger.warn("stored response not kept", {
            error: err instanceof Error ? err.message : "error",
          });
        }
      };
      if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
        const text = await res.text();
        const parsed = parseObject(text);
        if (parsed) await keep(parsed);
        return new Response(text, { status: res.status, headers: res.headers });
      }
      return new Response(res.body.pipeThrough(finalResponseTap(keep)), {
        status: res.status,
        headers: res.headers,
      });
    },
  };
}

/** `GET /v1/responses/{id}`: the caller's own stored response, else 404. */
export async function getStoredResponse(
  c: Context,
  owner: string,
  deps: ResponsesStateDeps,
): Promise<Response> {
  const record = storingResponses(deps)
    ? await deps.store.get(owner, c.req.param("id") ?? "")
    : undefined;
  if (!record) throw notFound(c.req.param("id") ?? "", deps);
  return Response.json(record.response);
}

/** `GET /v1/responses/{id}/input_items`: the input items that led to the response. */
export async function getStoredInputItems(
  c: Context,
  owner: string,
  deps: ResponsesStateDeps,
): Promise<Response> {
  const record = storingResponses(deps)
    ? await deps.store.get(owner, c.req.param("id") ?? "")
    : undefined;
  if (!record) throw notFound(c.req.param("id") ?? "", deps);
  // OpenAI lists them newest first by default.
  const data = c.req.query("order") === "asc" ? record.input : [...record.input].reverse();
  return Response.json({
    object: "list",
    data,
    first_id: idOf(data[0]),
    last_id: idOf(data.at(-1)),
    has_more: false,
  });
}

/** `DELETE /v1/responses/{id}`: deletes the caller's own stored response, else 404. */
export async function deleteStoredResponse(
  c: Context,
  owner: string,
  deps: ResponsesStateDeps,
): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const deleted = storingResponses(deps) &&
    await deps.store.delete(owner, id);
  if (!deleted) throw notFound(id, deps);
  return Response.json({ id, object: "response.deleted", deleted: true });
}

function notFound(id: string, deps: ResponsesStateDeps): NotFoundError {
  return new NotFoundError(
    storingResponses(deps)
      ? `Response with id '${id}' not found.`
      : "This gateway stores no responses: its operator can turn that on with " +
        "'responses: { store: true }' in the gateway config.",
  );
}

/**
 * Passes a Responses stream through untouched while reading its events on the side; the
 * final `response.completed` / `response.incomplete` event's `response` is kept before the
 * event is passed on, so a client that continues at once finds it stored.
 */
function finalResponseTap(
  keep: (response: Record<string, unknown>) => Promise<void>,
): TransformStream<Uint8Array, Uint8Array> {
  const parser = sseParserTransformer();
  let final: Record<string, unknown> | undefined;
  const sink = {
    enqueue(event: SseEvent) {
      // Only the last event is parsed; the others are skipped by a cheap look at their text.
      if (!event.data.includes('"response.completed"') && !event.data.includes("incomplete")) {
        return;
      }
      const parsed = parseObject(event.data);
      const type = parsed?.type;
      if (
        (type === "response.completed" || type === "response.incomplete") &&
        isRecord(parsed?.response)
      ) {
        final = parsed.response;
      }
    },
  } as unknown as TransformStreamDefaultController<SseEvent>;
  return new TransformStream({
    async transform(chunk, controller) {
      parser.transform?.(chunk, sink);
      if (final) {
        const response = final;
        final = undefined;
        await keep(response);
      }
      controller.enqueue(chunk);
    },
  });
}

/** The request's `input` as items: a string is one user message. */
function inputItems(input: unknown): unknown[] {
  if (typeof input === "string") {
    return input === "" ? [] : [{ type: "message", role: "user", content: input }];
  }
  return Array.isArray(input) ? input : [];
}

function idOf(item: unknown): string | null {
  return isRecord(item) && typeof item.id === "string" ? item.id : null;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
