import { maskSecretsInText } from "./mask.ts";
import { currentRequestClient, currentRequestId } from "./request_context.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra structured fields for a log line; values are masked before they are written. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** A small structured logger: JSON lines when `LOG_FORMAT=json`, readable lines otherwise. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Registers secrets (configured keys) that must never appear unmasked in a line. */
  setSecrets(secrets: Iterable<string>): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  /** Where lines go; defaults to stderr so stdout stays free for tools. */
  write?: (line: string) => void;
}

export function parseLogLevel(value: string | undefined): LogLevel {
  const v = (value ?? "").toLowerCase();
  return v === "debug" || v === "info" || v === "warn" || v === "error" ? v : "info";
}

/** Creates a logger that masks secrets in every message and field. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const json = options.json ?? false;
  const encoder = new TextEncoder();
  const write = options.write ??
    ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  let secrets: string[] = [];

  function log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (ORDER[level] < min) return;
    const safeMsg = maskSecretsInText(msg, secrets);
    const safeFields: LogFields = {};
    // Every line written while serving a request names it, so one request's lines can be found.
    const requestId = fields.request_id ?? currentRequestId();
    if (requestId !== undefined) safeFields.request_id = requestId;
    const client = currentRequestClient();
    if (client !== undefined && fields.client === undefined) safeFields.client = client;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || k === "request_id") continue;
      safeFields[k] = typeof v === "string" ? maskSecretsInText(v, secrets) : v;
    }
    const time = new Date().toISOString();
    if (json) {
      write(JSON.stringify({ time, level, msg: safeMsg, ...safeFields }));
    } else {
      const extra = Object.entries(safeFields).map(([k, v]) => `${k}=${formatValue(v)}`).join(" ");
      write(`${time} ${level.toUpperCase().padEnd(5)} ${safeMsg}${extra ? " " + extra : ""}`);
    }
  }

  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
    setSecrets(list) {
      // Longest first so a key that contains another is masked whole.
      secrets = [...new Set(list)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
    },
  };
}

function formatValue(v: string | number | boolean | null | undefined): string {
  if (typeof v === "string") return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return String(v);
}
