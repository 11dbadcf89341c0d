import type { z } from "zod";
import { maskSecretsInText } from "../observe/mask.ts";
import type { DriverContext } from "./types.ts";

/**
 * What the OAuth drivers share about token endpoints: a form POST with a bounded timeout that
 * turns network failures into safe errors, a tolerant answer parser, and a masked reason.
 */

/** POSTs a form (`application/x-www-form-urlencoded`), bounded by `timeoutMs` and ctx.signal. */
export async function postTokenForm(
  ctx: DriverContext,
  url: string,
  form: URLSearchParams,
  options: { name: string; timeoutMs: number },
): Promise<Response> {
  const timeoutMs = Math.min(ctx.provider.timeout_ms, options.timeoutMs);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await (ctx.fetch ?? fetch)(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: form,
      signal: AbortSignal.any([ctx.signal, timeout]),
      redirect: "manual",
    });
  } catch (err) {
    if (timeout.aborted && !ctx.signal.aborted) {
      throw new Error(`${options.name} token endpoint did not answer within ${timeoutMs} ms.`);
    }
    if (ctx.signal.aborted) {
      throw new Error(`${options.name} token request was cancelled.`, { cause: err });
    }
    throw new Error(`${options.name} token endpoint is unreachable.`, { cause: err });
  }
}

/** Parses a token answer with the driver's schema; undefined when it is not that JSON. */
export function parseTokenAnswer<S extends z.ZodType>(
  schema: S,
  text: string,
): z.infer<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `status error: description`, masked and short, for messages and the account's last_error. */
export function describeTokenError(
  status: number,
  answer: { error?: string; error_description?: string } | undefined,
  text: string,
  secrets: string[],
): string {
  const detail = answer?.error
    ? `${answer.error}${answer.error_description ? `: ${answer.error_description}` : ""}`
    : text.trim();
  const safe = maskSecretsInText(detail, secrets).slice(0, 300);
  return safe ? `${status} ${safe}` : String(status);
}
