/**
 * Pass-through errors. The gateway cannot know which API format a raw relay speaks, so it
 * answers its own failures in one small JSON shape: `{ "error": { "code", "message" } }`.
 */
export class PassthroughError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "PassthroughError";
    this.status = status;
    this.code = code;
  }
}

/** The JSON answer for a pass-through failure. */
export function passthroughErrorResponse(err: PassthroughError): Response {
  return Response.json({ error: { code: err.code, message: err.message } }, {
    status: err.status,
  });
}
