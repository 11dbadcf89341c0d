import type { MiddlewareHandler } from "hono";
import { constantTimeEqual } from "../auth/client_auth.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { GatewayError } from "../errors.ts";

/**
 * The admin API's one rule: 403 while no admin token is set (the API is off), 401 unless the
 * request carries `Authorization: Bearer TOKEN` (compared in constant time).
 */
export function requireAdminToken(
  authorization: string | undefined,
  token: string | undefined,
): void {
  if (!token) {
    throw new GatewayError(403, "permission", "The admin API is disabled: no admin token is set.", {
      code: "admin_disabled",
    });
  }
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  if (!m || !constantTimeEqual(m[1].trim(), token)) {
    throw new GatewayError(401, "authentication", "Invalid or missing admin token.", {
      code: "invalid_admin_token",
    });
  }
}

/** Middleware applying `requireAdminToken` with the current config's token. */
export function adminTokenMiddleware(state: () => RuntimeState): MiddlewareHandler {
  return async (c, next) => {
    requireAdminToken(c.req.header("authorization"), state().config.auth.admin_token);
    await next();
  };
}
