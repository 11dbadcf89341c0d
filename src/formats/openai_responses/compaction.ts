import { fromBase64Url, toBase64Url } from "./reasoning_envelope.ts";

/**
 * Compaction items (`{"type":"compaction","encrypted_content":...}`, also spelled
 * `compaction_summary`): what `POST /v1/responses/compact` answers and Codex sends back as the
 * first item of its next turns. OpenAI's own items are encrypted for OpenAI; the gateway's are
 * readable by design: `llmproxy.compaction.v1.` + base64url of `{"summary":"..."}` — the
 * summary text the routed model wrote. Nothing secret is in it: the client already holds the
 * conversation it summarises.
 */
const PREFIX = "llmproxy.compaction.v1.";

/** A summary → the `encrypted_content` of the gateway's compaction item. */
export function encodeCompaction(summary: string): string {
  return PREFIX + toBase64Url(JSON.stringify({ summary }));
}

/** The summary in a compaction item the gateway made, or undefined (OpenAI's, or malformed). */
export function decodeCompaction(content: string): string | undefined {
  if (!content.startsWith(PREFIX)) return undefined;
  try {
    const json: unknown = JSON.parse(fromBase64Url(content.slice(PREFIX.length)));
    if (typeof json === "object" && json !== null && "summary" in json) {
      const summary = (json as { summary: unknown }).summary;
      if (typeof summary === "string") return summary;
    }
  } catch {
    // Not ours after all.
  }
  return undefined;
}

/** How a compaction summary is shown to a model that never saw the turns it replaces. */
export function compactionSummaryText(summary: string): string {
  return "Summary of the conversation so far (earlier turns were compacted into it):\n\n" +
    summary;
}
