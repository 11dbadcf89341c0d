import type { IrPart, IrRequest } from "./types.ts";

/**
 * A fast local token estimate for count_tokens routes (Claude Code calls them many times a
 * second, so they must never cost an upstream call). The rule, documented for users:
 * one token per 4 characters of Latin text, one per CJK character, 85 per image, plus
 * 4 tokens of framing per message and the JSON of tool definitions at the same rate.
 */
export function estimateInputTokens(req: IrRequest): number {
  let tokens = 0;
  for (const part of req.system) tokens += partTokens(part);
  for (const msg of req.messages) {
    tokens += 4;
    for (const part of msg.parts) tokens += partTokens(part);
  }
  for (const tool of req.tools) {
    tokens += textTokens(tool.name) + textTokens(tool.description ?? "") +
      textTokens(JSON.stringify(tool.parameters));
  }
  return Math.max(1, tokens);
}

function partTokens(part: IrPart): number {
  switch (part.type) {
    case "text":
      return textTokens(part.text);
    case "image":
      return 85;
    case "tool_call":
      return textTokens(part.name) + textTokens(part.arguments);
    case "tool_result":
      return part.content.reduce((n, p) => n + partTokens(p), 0);
    case "reasoning":
      return textTokens(part.text);
  }
}

/** Tokens of a text by the rule above. */
export function textTokens(text: string): number {
  let cjk = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (
      (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x3400 && cp <= 0x9fff) ||
      (cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0xf900 && cp <= 0xfaff)
    ) cjk++;
  }
  return cjk + Math.ceil((text.length - cjk) / 4);
}
