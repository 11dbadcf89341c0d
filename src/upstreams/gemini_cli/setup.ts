/**
 * Code Assist project discovery and onboarding, done once per account, as Gemini CLI's
 * `setupUser` does (packages/core/src/code_assist/setup.ts): `loadCodeAssist`; a user who
 * already has a tier gets the project from its answer; a new user is onboarded to the default
 * allowed tier with `onboardUser`, a long-running operation polled until done.
 */
import { z } from "zod";
import type { ProviderConfig } from "../../config/schema.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { parseGoogleError } from "../gemini/errors.ts";
import { individualTierError, isIndividualTierRefusal } from "./individual_tier.ts";
import {
  CLIENT_METADATA,
  codeAssistHeaders,
  type CodeAssistMethod,
  codeAssistOperationUrl,
  codeAssistUrl,
} from "./code_assist.ts";

const FREE_TIER = "free-tier";
const LEGACY_TIER = "legacy-tier";

/** At most this many onboardUser/operation answers are awaited before giving up. */
const MAX_ONBOARD_TRIES = 10;
/** Waits before each poll: quick at first (the fake and fast accounts), then Gemini CLI's 5 s. */
const DEFAULT_POLL_DELAYS_MS = [500, 1000, 2000, 3000, 5000];
/** Per-call cap: setup answers are small; the provider's generation timeout is far too long. */
const CALL_TIMEOUT_MS = 30_000;

/** A failed discovery step; `status` is the HTTP status when Google answered with an error. */
export class ProjectDiscoveryError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = "ProjectDiscoveryError";
    this.status = status;
  }
}

const projectRef = z.union([z.string(), z.looseObject({ id: z.string().optional() })]).nullish();

const tierSchema = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  isDefault: z.boolean().nullish(),
  userDefinedCloudaicompanionProject: z.boolean().nullish(),
});

const loadSchema = z.looseObject({
  currentTier: tierSchema.nullish(),
  allowedTiers: z.array(tierSchema).nullish(),
  ineligibleTiers: z.array(z.looseObject({
    reasonCode: z.string().nullish(),
    reasonMessage: z.string().nullish(),
    validationUrl: z.string().nullish(),
  })).nullish(),
  cloudaicompanionProject: projectRef,
});

const operationSchema = z.looseObject({
  name: z.string().nullish(),
  done: z.boolean().nullish(),
  error: z.looseObject({ code: z.number().nullish(), message: z.string().nullish() }).nullish(),
  response: z.looseObject({ cloudaicompanionProject: projectRef }).nullish(),
});

type LoadResponse = z.infer<typeof loadSchema>;
type Tier = z.infer<typeof tierSchema>;

export interface DiscoverProjectOptions {
  provider: ProviderConfig;
  accessToken: string;
  signal: AbortSignal;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Waits before the successive polls (the last one repeats). */
  pollDelaysMs?: number[];
}

function projectIdOf(ref: z.infer<typeof projectRef>): string | undefined {
  if (typeof ref === "string") return ref !== "" ? ref : undefined;
  return ref?.id ? ref.id : undefined;
}

/**
 * Returns the Code Assist project of the account behind `accessToken`, onboarding the user when
 * needed. `provider.project_id`, when set, is offered to Google as the user's project (paid and
 * Workspace tiers need one; the free tier gets a managed project instead).
 */
export async function discoverCodeAssistProject(options: DiscoverProjectOptions): Promise<string> {
  const configured = options.provider.project_id;
  const load = parseAs(
    loadSchema,
    await call(options, "loadCodeAssist", {
      ...(configured ? { cloudaicompanionProject: configured } : {}),
      metadata: { ...CLIENT_METADATA, ...(configured ? { duetProject: configured } : {}) },
    }),
    "loadCodeAssist",
  );
  requireNoValidation(load);
  if (!load.currentTier) {
    const refused = load.ineligibleTiers?.find((t) =>
      isIndividualTierRefusal(t.reasonMessage, t.reasonCode)
    );
    if (refused) throw individualTierError(refused.reasonMessage);
  }

  if (load.currentTier) {
    const project = projectIdOf(load.cloudaicompanionProject) ?? configured;
    if (project) return project;
    throw ineligibleOrProjectRequired(load);
  }

  const tier = onboardTier(load);
  // The free tier uses a Google-managed project: naming one there fails with FAILED_PRECONDITION.
  const request = tier.id === FREE_TIER ? { tierId: tier.id, metadata: CLIENT_METADATA } : {
    tierId: tier.id,
    ...(configured ? { cloudaicompanionProject: configured } : {}),
    metadata: { ...CLIENT_METADATA, ...(configured ? { duetProject: configured } : {}) },
  };

  const delays = options.pollDelaysMs?.length ? options.pollDelaysMs : DEFAULT_POLL_DELAYS_MS;
  let op = parseAs(operationSchema, await call(options, "onboardUser", request), "onboardUser");
  for (let tries = 1; !op.done; tries++) {
    if (tries >= MAX_ONBOARD_TRIES) {
      throw new ProjectDiscoveryError(
        `Code Assist onboarding (tier ${tier.id}) did not finish after ${tries} checks; try again later.`,
      );
    }
    await sleep(delays[Math.min(tries - 1, delays.length - 1)], options.signal);
    // Current Gemini CLI polls the named operation; older releases re-sent onboardUser, which
    // is still what to do when the answer names no operation.
    op = parseAs(
      operationSchema,
      op.name
        ? await get(options, codeAssistOperationUrl(options.provider, op.name), "operation")
        : await call(options, "onboardUser", request),
      "onboardUser",
    );
  }
  if (op.error) {
    throw new ProjectDiscoveryError(
      `Code Assist onboarding failed: ${safe(op.error.message ?? "unknown error", options)}`,
      op.error.code ?? undefined,
    );
  }
  const project = projectIdOf(op.response?.cloudaicompanionProject) ?? configured;
  if (project) return project;
  throw ineligibleOrProjectRequired(load);
}

/** The default allowed tier; none at all means a legacy account that names its own project. */
function onboardTier(load: LoadResponse): Tier {
  const tier = load.allowedTiers?.find((t) => t.isDefault);
  return tier ?? { id: LEGACY_TIER, userDefinedCloudaicompanionProject: true };
}

/** Google asks some new accounts to verify themselves in a browser first. */
function requireNoValidation(load: LoadResponse): void {
  if (load.currentTier) return;
  const tier = load.ineligibleTiers?.find((t) =>
    t.reasonCode === "VALIDATION_REQUIRED" && t.validationUrl
  );
  if (tier) {
    throw new ProjectDiscoveryError(
      `Google requires account validation before Code Assist can be used${
        tier.reasonMessage ? ` (${tier.reasonMessage})` : ""
      }: open ${tier.validationUrl} while signed in to this account, then try again.`,
    );
  }
}

function ineligibleOrProjectRequired(load: LoadResponse): ProjectDiscoveryError {
  const reasons = (load.ineligibleTiers ?? []).map((t) => t.reasonMessage).filter((m) => !!m);
  if (reasons.length > 0) {
    return new ProjectDiscoveryError(
      `This Google account cannot use Code Assist: ${reasons.join(", ")}`,
    );
  }
  return new ProjectDiscoveryError(
    "This Google account needs a Google Cloud project: set project_id on the account (or the provider).",
  );
}

function parseAs<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ProjectDiscoveryError(`Code Assist ${what} answered with an unexpected body.`);
  }
  return parsed.data;
}

function safe(text: string, options: DiscoverProjectOptions): string {
  return maskSecretsInText(text, [options.accessToken]).slice(0, 500);
}

async function call(
  options: DiscoverProjectOptions,
  method: CodeAssistMethod,
  body: unknown,
): Promise<unknown> {
  return await request(options, codeAssistUrl(options.provider, method), method, {
    method: "POST",
    body: JSON.stringify(body),
  });
}

async function get(options: DiscoverProjectOptions, url: string, what: string): Promise<unknown> {
  return await request(options, url, what, { method: "GET" });
}

async function request(
  options: DiscoverProjectOptions,
  url: string,
  what: string,
  init: { method: string; body?: string },
): Promise<unknown> {
  const doFetch = options.fetch ?? fetch;
  const timeout = Math.min(options.provider.timeout_ms, CALL_TIMEOUT_MS);
  let res: Response;
  try {
    res = await doFetch(url, {
      ...init,
      headers: codeAssistHeaders(options.provider, options.accessToken),
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(timeout)]),
      redirect: "manual",
    });
  } catch {
    // The underlying error text can name internal hosts; the account only needs to know.
    throw new ProjectDiscoveryError(
      options.signal.aborted
        ? `Code Assist ${what} was cancelled.`
        : `Code Assist ${what} failed: ${new URL(url).host} is unreachable or did not answer.`,
    );
  }
  const text = await res.text().catch(() => "");
  if (!res.ok) {
    const google = parseGoogleError(text)?.error;
    const detail = google?.message ?? text.slice(0, 200);
    if (isIndividualTierRefusal(detail)) throw individualTierError(google?.message);
    throw new ProjectDiscoveryError(
      `Code Assist ${what} answered ${res.status}${google?.status ? ` ${google.status}` : ""}${
        detail ? `: ${safe(detail, options)}` : ""
      }`,
      res.status,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProjectDiscoveryError(`Code Assist ${what} answered with a body that is not JSON.`);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new ProjectDiscoveryError("Code Assist onboarding was cancelled."));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ProjectDiscoveryError("Code Assist onboarding was cancelled."));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
