import { Hono } from "hono";
import { z } from "zod";
import {
  type KvConfigStore,
  type KvConfigWriteResult,
  SealedConfigError,
} from "../config/kv_config.ts";
import { type ConfigLayers, maskConfig } from "../config/layers.ts";
import { ConfigError } from "../config/load.ts";
import type { RuntimeState } from "../runtime_state.ts";
import type { Config } from "../config/schema.ts";
import { GatewayError, RequestError } from "../errors.ts";
import { describeIssue } from "../formats/describe_issue.ts";
import { readJsonBody, readTextBody } from "../http/body.ts";
import { ADMIN_MAX_BODY_BYTES, adminTokenMiddleware } from "./admin_token.ts";

export interface ConfigAdminDeps {
  state: () => RuntimeState;
  layers: ConfigLayers;
  kvConfig: KvConfigStore;
}

const rollbackSchema = z.strictObject({ version: z.number().int().positive().optional() });

/**
 * `GET/PUT /admin/config`, `GET /admin/config/history`, `POST /admin/config/rollback`: the
 * config stored in KV (same schema as the file), versioned, effective at once on this
 * instance and within seconds on the others.
 */
export function configAdminRoutes(deps: ConfigAdminDeps): Hono {
  const app = new Hono();

  app.use("/config", adminTokenMiddleware(deps.state));
  app.use("/config/*", adminTokenMiddleware(deps.state));

  app.get("/config", async (c) => {
    let sealed: string | undefined;
    const kv = await deps.kvConfig.current().catch((err) => {
      if (!(err instanceof SealedConfigError)) throw err;
      sealed = err.message;
      return null;
    });
    return c.json({
      version: deps.layers.kvVersion,
      updated_at: kv?.updated_at ?? null,
      config: maskConfig(deps.state().config),
      sources: deps.layers.origins(),
      stored: kv ? maskConfig(kv.config) : null,
      ...(sealed ? { stored_status: sealed } : {}),
      note: "precedence: env > KV > file; a changed port applies at the next start",
    });
  });

  app.get("/config/history", async (c) => {
    const versions = await deps.kvConfig.history();
    return c.json({
      current: deps.layers.kvVersion,
      versions: versions.map((v) => ({
        version: v.version,
        updated_at: v.updated_at,
        reason: v.reason,
        rolled_back_to: v.rolled_back_to ?? null,
        config: maskConfig(v.config),
      })),
    });
  });

  app.put("/config", async (c) => {
    const { json } = await readJsonBody(c.req.raw, ADMIN_MAX_BODY_BYTES);
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new RequestError("The body must be a config object, as in local.json.");
    }
    if (JSON.stringify(json).includes("****")) {
      throw new RequestError(
        "The config contains a masked value (****) copied from GET /admin/config; send the real secret.",
        "masked_secret",
      );
    }
    const expected = expectedVersion(c.req.header("if-match"));
    const body = json as Record<string, unknown>;
    validated(() => deps.layers.withKv(body));
    const result = await deps.kvConfig.put(body, expected);
    return c.json(applied(deps, result));
  });

  app.post("/config/rollback", async (c) => {
    const text = await readTextBody(c.req.raw, ADMIN_MAX_BODY_BYTES);
    let raw: unknown = {};
    if (text.trim() !== "") {
      try {
        raw = JSON.parse(text);
      } catch {
        throw new RequestError('The body must be JSON: {} or {"version": N}.');
      }
    }
    const parsed = rollbackSchema.safeParse(raw);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    const history = await deps.kvConfig.history();
    const target = parsed.data.version ?? deps.layers.kvVersion - 1;
    const old = history.find((v) => v.version === target);
    if (old) validated(() => deps.layers.withKv(old.config));
    const result = await deps.kvConfig.rollback(parsed.data.version);
    return c.json(applied(deps, result));
  });

  return app;
}

function applied(deps: ConfigAdminDeps, result: KvConfigWriteResult): Record<string, unknown> {
  if (!result.ok) {
    if (result.reason === "conflict") {
      throw new GatewayError(
        409,
        "invalid_request",
        `The stored config changed meanwhile (now version ${result.current}); read it and retry.`,
        { code: "config_conflict" },
      );
    }
    throw new GatewayError(
      409,
      "invalid_request",
      result.reason === "no_previous"
        ? "There is no earlier config version to roll back to."
        : "No such config version in the history.",
      { code: result.reason },
    );
  }
  deps.layers.setKv(result.entry);
  return {
    version: result.entry.version,
    updated_at: result.entry.updated_at,
    rolled_back_to: result.entry.rolled_back_to ?? null,
  };
}

/** Validates a candidate KV layer; refuses one that would switch the admin API off. */
function validated(f: () => Config): void {
  let config: Config;
  try {
    config = f();
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new RequestError(`Invalid config: ${err.problems.join("; ")}`, "invalid_config");
    }
    throw err;
  }
  if (!config.auth.admin_token) {
    throw new RequestError(
      "Invalid config: it sets no admin token, which would lock the admin API; keep auth.admin_token or set ADMIN_TOKEN.",
      "invalid_config",
    );
  }
}

/** `If-Match: 3` or `If-Match: "3"`: write only if version 3 is current (0 = none stored). */
function expectedVersion(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === "" || header.trim() === "*") return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  if (!m) throw new RequestError("If-Match must be a config version number.", "invalid_if_match");
  return Number(m[1]);
}
