/** Token counts as an upstream reported them. */
export interface TokenUsage {
  input?: number;
  output?: number;
  /** Tokens read from a prompt cache (Anthropic, OpenAI `cached_tokens`, Gemini). */
  cacheRead?: number;
  /** Tokens written to a prompt cache (Anthropic). */
  cacheWrite?: number;
}

// Every client format's usage fields: OpenAI chat, Anthropic and Responses, Gemini. The closing
// quote keeps `input_tokens_details` and the like from matching.
const INPUT = /"(?:prompt_tokens|input_tokens|promptTokenCount)"\s*:\s*(\d+)/g;
const OUTPUT = /"(?:completion_tokens|output_tokens|candidatesTokenCount)"\s*:\s*(\d+)/g;
const CACHE_READ =
  /"(?:cache_read_input_tokens|cached_tokens|cachedContentTokenCount)"\s*:\s*(\d+)/g;
const CACHE_WRITE = /"cache_creation_input_tokens"\s*:\s*(\d+)/g;

/**
 * Finds the token usage in the text of an answer (or the head and tail of a stream): the last
 * reported value of each count wins, as streams report running totals.
 */
export function scanUsage(text: string): TokenUsage {
  const out: TokenUsage = {};
  const input = lastNumber(INPUT, text);
  const output = lastNumber(OUTPUT, text);
  if (input !== undefined) out.input = input;
  if (output !== undefined) out.output = output;
  // Most answers carry no cache counts: a native substring test skips two regex scans.
  if (!text.includes("ache")) return out;
  const cacheRead = lastNumber(CACHE_READ, text);
  if (cacheRead !== undefined) out.cacheRead = cacheRead;
  const cacheWrite = lastNumber(CACHE_WRITE, text);
  if (cacheWrite !== undefined) out.cacheWrite = cacheWrite;
  return out;
}

function lastNumber(re: RegExp, text: string): number | undefined {
  let last: number | undefined;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = Number(m[1]);
  return last;
}
