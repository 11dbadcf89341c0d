import { Hono } from "hono";
import type { z } from "zod";
import { adminTokenMiddleware } from "../admin/admin_token.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { NotFoundError, RequestError } from "../errors.ts";
import { describeIssue } from "../formats/describe_issue.ts";
import { hashSecret, newKeyId, newSecret, secretHint } from "./secret.ts";
import type { ClientKeys } from "./service.ts";
import {
  createKeySchema,
  type KeyRecord,
  patchKeySchema,
  rotateSchema,
  viewOf,
} from "./settings.ts";

/**
 * `/admin/keys`: create (the secret is answered once, never stored), list, read, change,
 * rotate and delete managed client keys, and read their usage. Admin token only: a managed
 * key is a client key and never opens these routes.
 */
export function clientKeyRoutes(state: () => RuntimeState, keys: ClientKeys): Hono {
  const app = new Hono();
  app.use("/keys", adminTokenMiddleware(state));
  app.use("/keys/*", adminTokenMiddleware(state));
  const store = keys.store;

  app.post("/keys", async (c) => {
    const body = parse(createKeySchema, await json(c.req.raw));
    const secret = newSecret();
    const now = new Date().toISOString();
    const rec: KeyRecord = {
      ...body,
      id: newKeyId(),
      hash: hashSecret(secret),
      hint: secretHint(secret),
      enabled: body.enabled ?? true,
      created_at: now,
      updated_at: now,
    };
    await store.put(rec);
    return c.json({ ...viewOf(rec), key: secret }, 201);
  });

  app.get("/keys", async (c) => {
    const list = await store.list();
    // Today's counts and the limits' state come from memory (this instance's view, synced).
    return c.json({
      keys: list.map((rec) => {
        const key = store.byId(rec.id);
        return key ? { ...viewOf(rec), ...keys.summary(key) } : viewOf(rec);
      }),
    });
  });

  app.get("/keys/:id", async (c) => c.json(viewOf(await found(c.req.param("id")))));

  app.patch("/keys/:id", async (c) => {
    const rec = await found(c.req.param("id"));
    const patch = parse(patchKeySchema, await json(c.req.raw));
    const next: Record<string, unknown> = { ...rec };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      if (v === null) delete next[k];
      else next[k] = v;
    }
    next.updated_at = new Date().toISOString();
    await store.put(next as unknown as KeyRecord);
    return c.json(viewOf(next as unknown as KeyRecord));
  });

  app.delete("/keys/:id", async (c) => {
    const id = c.req.param("id");
    if (!await store.delete(id)) throw notFound(id);
    return c.json({ deleted: id });
  });

  app.post("/keys/:id/rotate", async (c) => {
    const rec = await found(c.req.param("id"));
    const text = await c.req.raw.text();
    const { grace_seconds } = parse(rotateSchema, text.trim() === "" ? {} : parseJson(text));
    const secret = newSecret();
    const now = Date.now();
    const next: KeyRecord = {
      ...rec,
      hash: hashSecret(secret),
      hint: secretHint(secret),
      updated_at: new Date(now).toISOString(),
    };
    delete next.previous;
    if (grace_seconds > 0) {
      next.previous = { hash: rec.hash, until: new Date(now + grace_seconds * 1000).toISOString() };
    }
    await store.put(next);
    return c.json({ ...viewOf(next), key: secret });
  });

  app.get("/keys/:id/usage", async (c) => {
    const id = c.req.param("id");
    await found(id);
    await store.reload();
    const key = store.byId(id);
    if (!key) throw notFound(id);
    return c.json(await keys.usage(key));
  });

  async function found(id: string): Promise<KeyRecord> {
    const rec = await store.get(id);
    if (!rec) throw notFound(id);
    return rec;
  }

  return app;
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`No client key '${id.slice(0, 64)}'.`, "key_not_found");
}

async function json(req: Request): Promise<unknown> {
  return parseJson(await req.text());
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RequestError("The body is not valid JSON.", "invalid_json");
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new RequestError(describeIssue(r.error.issues[0]), "invalid_request");
  return r.data;
}
