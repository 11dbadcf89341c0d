import type { IrRequest } from "../ir/types.ts";

/** Client headers that name a conversation (Claude Code, Codex and generic clients). */
const SESSION_HEADERS = ["x-session-id", "session-id", "session_id", "x-claude-code-session-id"];
/** Bounded so a flood of one-off conversations cannot grow memory without limit. */
const MAX_SESSIONS = 10_000;

/**
 * The conversation a request belongs to: a client session header when there is one, else a
 * hash of the conversation's opening (system prompt and first user turn), which stays the same
 * as the conversation grows — so an upstream's prompt cache keeps hitting the same account.
 */
export function sessionKeyOf(headers: Headers, ir: IrRequest): string {
  for (const h of SESSION_HEADERS) {
    const v = headers.get(h);
    if (v) return `h:${v}`;
  }
  let text = "";
  for (const p of ir.system) if (p.type === "text") text += p.text;
  const firstUser = ir.messages.find((m) => m.role === "user");
  for (const p of firstUser?.parts ?? []) if (p.type === "text") text += "\u0000" + p.text;
  return `c:${fnv1a(text)}`;
}

/** Session → credential id per provider, least recently used first out. */
export class SessionAffinity {
  readonly #map = new Map<string, string>();

  get(providerId: string, session: string): string | undefined {
    const key = `${providerId}\u0000${session}`;
    const id = this.#map.get(key);
    if (id !== undefined) {
      // Refresh its place in the LRU order.
      this.#map.delete(key);
      this.#map.set(key, id);
    }
    return id;
  }

  set(providerId: string, session: string, credentialId: string): void {
    const key = `${providerId}\u0000${session}`;
    this.#map.delete(key);
    this.#map.set(key, credentialId);
    if (this.#map.size > MAX_SESSIONS) {
      this.#map.delete(this.#map.keys().next().value as string);
    }
  }
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}
