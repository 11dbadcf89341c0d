import type { MiddlewareHandler } from "hono";
import { constantTimeEqual } from "../auth/client_auth.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { GatewayError, RequestError } from "../errors.ts";

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

/** The largest body any admin route reads (a config, a credential); larger ones get 413. */
export const ADMIN_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Middleware applying `requireAdminToken` with the current config's token, then refusing a
 * declared body over `ADMIN_MAX_BODY_BYTES` before any handler reads it (handlers read with
 * the same bound, for bodies sent without a length).
 */
export function adminTokenMiddleware(state: () => RuntimeState): MiddlewareHandler {
  return async (c, next) => {
    requireAdminToken(c.req.header("authorization"), state().config.auth.admin_token);
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > ADMIN_MAX_BODY_BYTES) {
      throw new RequestError(
        `Request body is larger than the limit of ${ADMIN_MAX_BODY_BYTES} bytes.`,
        "request_too_large",
        413,
      );
    }
    await next();
  };
}
