import { irToAnthropicRequest } from "../../formats/anthropic/request.ts";
import type { IrRequest } from "../../ir/types.ts";

/**
 * Anthropic Messages bodies as the clouds take them (Amazon Bedrock, Claude on Vertex AI): the
 * model moves into the URL, the API version into the body (`anthropic_version`), and Bedrock
 * also wants `stream` out of the body (the endpoint says it) and the betas in `anthropic_beta`.
 * Everything else is Anthropic's body, unchanged, so native callers' unknown fields survive.
 */
export interface CloudBodyOptions {
  /** `bedrock-2023-05-31` or `vertex-2023-10-16`. */
  version: string;
  /** Vertex keeps `stream` in the body; Bedrock refuses it. */
  keepStream: boolean;
  /** Beta flags to carry in the body (Bedrock), when the body has none of its own. */
  betas?: readonly string[];
}

export function anthropicCloudBody(
  body: Record<string, unknown>,
  options: CloudBodyOptions,
): Record<string, unknown> {
  const { model: _model, stream, ...rest } = body;
  const out: Record<string, unknown> = { anthropic_version: options.version, ...rest };
  hoistSystemTurns(out);
  if (options.keepStream && stream !== undefined) out.stream = stream;
  if (options.betas && options.betas.length > 0 && out.anthropic_beta === undefined) {
    out.anthropic_beta = [...options.betas];
  }
  return out;
}

type Block = Record<string, unknown>;

/**
 * Newer Anthropic clients (Claude Code) put `role: "system"` turns inside `messages`; the clouds'
 * Messages APIs accept only user and assistant turns there. Those turns move, in order, to the
 * end of the top-level `system` (as blocks, so cache_control marks survive).
 */
function hoistSystemTurns(body: Record<string, unknown>): void {
  const messages = body.messages;
  if (!Array.isArray(messages)) return;
  const isSystem = (m: unknown): m is { content?: unknown } =>
    typeof m === "object" && m !== null && (m as { role?: unknown }).role === "system";
  if (!messages.some(isSystem)) return;
  const blocks: Block[] = [...asBlocks(body.system)];
  for (const m of messages) if (isSystem(m)) blocks.push(...asBlocks(m.content));
  body.messages = messages.filter((m) => !isSystem(m));
  body.system = blocks;
}

function asBlocks(content: unknown): Block[] {
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
  if (!Array.isArray(content)) return [];
  return content.filter((b): b is Block => typeof b === "object" && b !== null);
}

/** An IR request converted by the Anthropic format module, then shaped for a cloud. */
export function irToAnthropicCloudBody(
  req: IrRequest,
  model: string,
  stream: boolean,
  options: CloudBodyOptions,
): Record<string, unknown> {
  const body = irToAnthropicRequest({ ...req, stream }, model) as unknown as Record<
    string,
    unknown
  >;
  return anthropicCloudBody(body, options);
}
