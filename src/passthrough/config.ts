import { z } from "zod";
import type { AddressPolicy } from "../http/ssrf_guard.ts";
import { PROVIDER_PRESETS, RESERVED_PRESET_NAMES } from "./presets.ts";

const httpUrl = z.url({ error: "expected a URL", abort: true }).refine(
  (u) => u.startsWith("http://") || u.startsWith("https://"),
  { error: "expected an http(s) URL" },
);

/** Why a preset name is refused, or undefined when it is fine. */
function presetNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(name)) return "use lowercase letters, digits, '_', '.', '-'";
  if (RESERVED_PRESET_NAMES.has(name)) return `"${name}" is reserved`;
  return undefined;
}

/** `host` or `host:port` (IPv6 in brackets), compared with a target's host. */
const hostEntry = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, {
  error: "expected host or host:port",
});

const presetEntrySchema = z.strictObject({
  /** One or several origins; each request picks one at random. */
  targets: z.array(httpUrl).min(1, { error: "a preset needs at least one target" }),
  /** Path of the OpenAI-compatible API under the target (supplier routing); default: the built-in's, else "/v1". */
  openai_path: z.string().regex(/^(\/[^?#]*)?$/, { error: "expected a path like /v1" })
    .optional(),
});

/** `passthrough` in the config: raw forwarding with the client's own credentials. */
export const passthroughConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** true: only `/{gatewayKey}/{preset}/...`; false: `/{preset}/...` and `/v2/...` are public too. */
  require_auth: z.boolean().default(true),
  /**
   * Lets every fetch of a client-chosen URL (the generic proxy, image URLs inlined for Gemini)
   * reach loopback, private, link-local and metadata addresses.
   */
  allow_private: z.boolean().default(false),
  /** Single private hosts those fetches may reach without opening all of them. */
  allow_hosts: z.array(hostEntry).default([]),
  presets: z.record(z.string(), presetEntrySchema).superRefine((presets, ctx) => {
    for (const name of Object.keys(presets)) {
      const problem = presetNameProblem(name);
      if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
    }
  }).default({}),
  ollama_url: httpUrl.optional(),
  /** Built-in presets that point at loopback (e.g. "ollama"), enabled by name; off otherwise. */
  local_presets: z.array(
    z.string().refine((name) => PROVIDER_PRESETS[name]?.local === true, {
      error: "not a built-in loopback preset (see the README's preset list)",
    }),
  ).default([]),
  /** How long an upstream may take to send its response headers (504 after). */
  timeout_ms: z.number().int().positive().max(3_600_000).default(300_000),
}).prefault({});

export type PassthroughConfig = z.infer<typeof passthroughConfigSchema>;

/** The SSRF guard's exceptions, from the operator's pass-through settings. */
export function addressPolicyOf(pt: PassthroughConfig): AddressPolicy {
  return { allowPrivate: pt.allow_private, allowHosts: pt.allow_hosts };
}
