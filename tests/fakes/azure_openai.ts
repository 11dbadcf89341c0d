/**
 * A fake Azure OpenAI resource plus a fake Microsoft Entra ID token endpoint on 127.0.0.1.
 *
 * Entra `POST /{tenant}/oauth2/v2.0/token` (form, client credentials grant): checks the tenant,
 * the app (client_id), its secret and the Cognitive Services scope, answering Entra's errors
 * (`unauthorized_client` AADSTS700016, `invalid_client` AADSTS7000215, `invalid_scope`) or
 * `{token_type, expires_in: 3599, access_token}`.
 *
 * Azure OpenAI `POST /openai/v1/chat/completions` (the deployment as the body's model) and
 * `POST /openai/deployments/{deployment}/chat/completions?api-version=…` (required there):
 * authenticated by an `api-key` header this resource knows or a bearer token the Entra fake
 * minted (else 401), for known deployments only (else 404 DeploymentNotFound). Accepted
 * requests are answered by a private fake OpenAI (`./openai_upstream.ts`) with the deployment as
 * the model, so its model-named behaviours (`-weather`, `-429`, …) apply to deployment names.
 *
 * Responses: `POST /openai/v1/responses` and `/openai/responses?api-version=…` (the deployment
 * as the body's model), same auth. The answer ("Hello from <deployment>: <last user text>", a
 * get_weather call for `-weather` deployments, "Tool said: …" after a function_call_output) is
 * written with the gateway's own Responses encoder; the OpenAI SDK parsing it is the check.
 */
import { openAIResponsesFormat } from "../../src/formats/openai_responses/format.ts";
import type { IrEvent, IrPart, IrRequest, IrResponse } from "../../src/ir/types.ts";
import { startFakeOpenAI } from "./openai_upstream.ts";

export const COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default";

export interface FakeAzure {
  url: string;
  tenantId: string;
  /** `{url}/{tenant}/oauth2/v2.0/token`. */
  tokenUrl: string;
  /** Accepted API requests. */
  requests: {
    path: string;
    search: string;
    auth: "api-key" | "bearer";
    clientId?: string;
    body: Record<string, unknown>;
  }[];
  tokenCalls: number;
  /** Registers an app and returns its credential file (`{tenant_id, client_id, client_secret}`). */
  createApp(): { tenant_id: string; client_id: string; client_secret: string };
  /** Deletes a client secret, as rotating it in the portal does. */
  revokeSecret(clientId: string): void;
  /** Invalidates all minted tokens (the next API call gets 401). */
  expireTokens(): void;
  close(): Promise<void>;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function entraError(status: number, error: string, code: string, text: string): Response {
  return json(status, {
    error,
    error_description:
      `${code}: ${text} Trace ID: 0000 Correlation ID: 0000 Timestamp: 2026-12-07 20:00:00Z`,
    error_codes: [Number(code.slice(5))],
  });
}

export async function startFakeAzure(
  options: { apiKeys?: string[]; deployments: string[] },
): Promise<FakeAzure> {
  const openai = await startFakeOpenAI();
  const tenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  const apps = new Map<string, string>();
  const tokens = new Map<string, string>();
  const apiKeys = new Set(options.apiKeys ?? []);
  const deployments = new Set(options.deployments);
  let appCount = 0;
  const state: FakeAzure = {
    url: "",
    tenantId,
    tokenUrl: "",
    requests: [],
    tokenCalls: 0,
    createApp() {
      appCount++;
      const client_id = `00000000-0000-4000-8000-${String(appCount).padStart(12, "0")}`;
      const client_secret = `fake~Secret.${appCount}_${crypto.randomUUID()}`;
      apps.set(client_id, client_secret);
      return { tenant_id: tenantId, client_id, client_secret };
    },
    revokeSecret(clientId) {
      apps.set(clientId, `revoked-${crypto.randomUUID()}`);
      for (const [t, c] of tokens) if (c === clientId) tokens.delete(t);
    },
    expireTokens: () => tokens.clear(),
    close: () => Promise.resolve(),
  };

  async function token(req: Request, tenant: string): Promise<Response> {
    state.tokenCalls++;
    const form = new URLSearchParams(await req.text());
    if (tenant !== tenantId) {
      return entraError(400, "invalid_request", "AADSTS90002", `Tenant '${tenant}' not found.`);
    }
    if (form.get("grant_type") !== "client_credentials") {
      return entraError(
        400,
        "unsupported_grant_type",
        "AADSTS70003",
        "The grant type is not supported.",
      );
    }
    const clientId = form.get("client_id") ?? "";
    if (!apps.has(clientId)) {
      return entraError(
        400,
        "unauthorized_client",
        "AADSTS700016",
        `Application with identifier '${clientId}' was not found in the directory.`,
      );
    }
    if (apps.get(clientId) !== form.get("client_secret")) {
      return entraError(
        401,
        "invalid_client",
        "AADSTS7000215",
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
      );
    }
    if (form.get("scope") !== COGNITIVE_SCOPE) {
      return entraError(
        400,
        "invalid_scope",
        "AADSTS70011",
        "The provided value for scope is not valid.",
      );
    }
    const accessToken = `eyJ0eXAiOiJKV1Qi.fake.${crypto.randomUUID()}`;
    tokens.set(accessToken, clientId);
    return json(200, {
      token_type: "Bearer",
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: accessToken,
    });
  }

  async function api(req: Request, url: URL): Promise<Response> {
    const apiKey = req.headers.get("api-key");
    const bearer = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
    const clientId = tokens.get(bearer);
    if (!(apiKey !== null && apiKeys.has(apiKey)) && !clientId) {
      return json(401, {
        error: {
          code: "401",
          message:
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        },
      });
    }
    const body = await req.json().catch(() => undefined) as Record<string, unknown> | undefined;
    if (!body) return json(400, { error: { code: "BadRequest", message: "Invalid JSON." } });
    let deployment: string;
    const classic = url.pathname.match(/^\/openai\/deployments\/([^/]+)\/chat\/completions$/);
    const responses = url.pathname === "/openai/v1/responses" ||
      (url.pathname === "/openai/responses" && url.searchParams.has("api-version"));
    if (responses) {
      deployment = String(body.model ?? "");
    } else if (classic) {
      if (!url.searchParams.get("api-version")) {
        return json(404, { error: { code: "404", message: "Resource not found" } });
      }
      deployment = decodeURIComponent(classic[1]);
    } else if (url.pathname === "/openai/v1/chat/completions") {
      deployment = String(body.model ?? "");
    } else {
      return json(404, { error: { code: "404", message: "Resource not found" } });
    }
    if (!deployments.has(deployment)) {
      return json(404, {
        error: {
          code: "DeploymentNotFound",
          message:
            "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        },
      });
    }
    state.requests.push({
      path: url.pathname,
      search: url.search,
      auth: clientId ? "bearer" : "api-key",
      ...(clientId ? { clientId } : {}),
      body,
    });
    if (responses) return answerResponses(body, deployment);
    const res = await fetch(`${openai.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-up-azure" },
      body: JSON.stringify({ ...body, model: deployment }),
      signal: req.signal,
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  }

  return await new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.tokenUrl = `${state.url}/${tenantId}/oauth2/v2.0/token`;
        state.close = async () => {
          await server.shutdown();
          await openai.close();
        };
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      if (req.method !== "POST") return json(405, { error: { code: "405", message: "No" } });
      const t = url.pathname.match(/^\/([^/]+)\/oauth2\/v2\.0\/token$/);
      if (t) return await token(req, decodeURIComponent(t[1]));
      return await api(req, url);
    });
  });
}

/** A Responses answer for an accepted request, JSON or SSE. */
function answerResponses(body: Record<string, unknown>, deployment: string): Response {
  let ir: IrRequest;
  try {
    ir = openAIResponsesFormat.toIr(body, {});
  } catch (err) {
    return json(400, { error: { code: "invalid_request", message: String(err) } });
  }
  const last = ir.messages.at(-1);
  const result = last?.parts.find((p) => p.type === "tool_result");
  const lastText = last?.parts.flatMap((p) => p.type === "text" ? [p.text] : []).join(" ") ?? "";
  let content: IrPart[];
  if (result && result.type === "tool_result") {
    const said = result.content.flatMap((p) => p.type === "text" ? [p.text] : []).join("");
    content = [{ type: "text", text: `Tool said: ${said}` }];
  } else if (deployment.endsWith("-weather")) {
    content = [{
      type: "tool_call",
      id: "call_weather_01",
      name: "get_weather",
      arguments: JSON.stringify({ city: "Paris" }),
    }];
  } else {
    content = [{ type: "text", text: `Hello from ${deployment}: ${lastText}` }];
  }
  const res: IrResponse = {
    id: `resp_${crypto.randomUUID().replaceAll("-", "")}`,
    model: deployment,
    created: Math.floor(Date.now() / 1000),
    content,
    finishReason: content[0].type === "tool_call" ? "tool_calls" : "stop",
    usage: { inputTokens: 12, outputTokens: 8 },
  };
  if (!ir.stream) return json(200, openAIResponsesFormat.fromIrResponse(res, ir));
  const events: IrEvent[] = [{
    type: "start",
    id: res.id,
    model: deployment,
    created: res.created,
  }];
  for (const part of content) {
    if (part.type === "text") {
      for (const word of part.text.match(/\S+\s*/g) ?? []) {
        events.push({ type: "text_delta", text: word });
      }
    } else if (part.type === "tool_call") {
      events.push(
        { type: "tool_call_start", index: 0, id: part.id, name: part.name },
        { type: "tool_call_delta", index: 0, argumentsDelta: part.arguments },
        { type: "tool_call_end", index: 0 },
      );
    }
  }
  events.push({ type: "finish", reason: res.finishReason, usage: res.usage });
  const encoded = openAIResponsesFormat.encodeStream(ir, {});
  return new Response(
    ReadableStream.from(events).pipeThrough(new TransformStream(encoded.transformer)),
    { headers: { "content-type": encoded.contentType } },
  );
}
