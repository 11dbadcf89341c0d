import {
  builtinCapabilities,
  effortForBudget,
  type ModelCapabilities,
} from "../../ir/capabilities.ts";
import type { EncodeOptions } from "../../ir/encode_options.ts";
import type {
  IrCacheMarker,
  IrImagePart,
  IrMessage,
  IrPart,
  IrReasoningPart,
  IrRequest,
  IrTextPart,
  IrTool,
  IrToolCallPart,
  IrToolChoice,
  IrToolResultPart,
  JsonObject,
} from "../../ir/types.ts";
import {
  isCustomTool,
  type MessagesRequest,
  type RequestContentBlock,
  type UnknownBlock,
} from "./schema.ts";
import { decodeCallId, pushCarriedCall } from "../signature_carrier.ts";
import { addCacheBreakpoints } from "./cache_breakpoints.ts";
import { signatureFromClient } from "./signature.ts";
import {
  type AnthropicCacheControl,
  type AnthropicContentBlock,
  type AnthropicImageBlock,
  type AnthropicMessageParam,
  type AnthropicRequestBody,
  type AnthropicTextBlock,
  type AnthropicToolChoice,
  type AnthropicToolResultBlock,
  toolInputObject,
} from "./types.ts";

/** `max_tokens` is mandatory for Anthropic; used when the client's format left it out. */
export const DEFAULT_MAX_TOKENS = 8192;
/** The default with adaptive thinking, which spends part of `max_tokens` on thinking. */
export const ADAPTIVE_DEFAULT_MAX_TOKENS = 16384;
/** Anthropic's smallest accepted thinking budget. */
export const MIN_THINKING_BUDGET = 1024;
/** Thinking budgets for clients that only give an effort level (OpenAI `reasoning_effort`). */
const EFFORT_BUDGETS = { minimal: 1024, low: 2048, medium: 8192, high: 16384 } as const;

// ---------------------------------------------------------------------------------------------
// Client side: an Anthropic Messages request → IR
// ---------------------------------------------------------------------------------------------

/** Converts a validated Anthropic Messages request into the IR. */
export function anthropicRequestToIr(body: MessagesRequest): IrRequest {
  const messages: IrMessage[] = [];
  for (const msg of body.messages) {
    const blocks: RequestContentBlock[] = typeof msg.content === "string"
      ? [{ type: "text", text: msg.content }]
      : msg.content;
    if (msg.role === "system") {
      const parts = blocks.flatMap(contentPart);
      if (parts.length > 0) messages.push({ role: "system", parts });
    } else if (msg.role === "user") {
      // Tool results become a tool turn before the rest of the user turn, as in every format.
      const results = blocks.flatMap((b) => b.type === "tool_result" ? [toolResultPart(b)] : []);
      const parts = blocks.flatMap(contentPart);
      if (results.length > 0) messages.push({ role: "tool", parts: results });
      if (parts.length > 0) messages.push({ role: "user", parts });
    } else {
      const parts: IrPart[] = [];
      for (const block of blocks) {
        if (block.type !== "tool_use") {
          parts.push(...assistantPart(block));
          continue;
        }
        // A foreign signature (Gemini's) rides in the id this gateway gave out.
        const { id, carried } = decodeCallId(block.id);
        pushCarriedCall(
          parts,
          marked<IrToolCallPart>({
            type: "tool_call",
            id,
            name: block.name,
            arguments: argumentsText(block.input),
          }, block),
          carried,
        );
      }
      if (parts.length > 0) messages.push({ role: "assistant", parts });
    }
  }

  const ir: IrRequest = {
    model: body.model,
    system: systemParts(body.system),
    messages,
    tools: toolsToIr(body.tools),
    stop: body.stop_sequences ?? [],
    stream: body.stream === true,
  };
  if (body.max_tokens != null) ir.maxTokens = body.max_tokens;
  if (body.temperature != null) ir.temperature = body.temperature;
  if (body.top_p != null) ir.topP = body.top_p;
  if (body.top_k != null) ir.topK = body.top_k;
  if (body.metadata?.user_id != null) ir.user = body.metadata.user_id;
  if (body.tool_choice != null) {
    ir.toolChoice = toolChoiceToIr(body.tool_choice);
    if (body.tool_choice.disable_parallel_tool_use === true) ir.parallelToolCalls = false;
  }
  const reasoning = reasoningToIr(body);
  if (reasoning) ir.reasoning = reasoning;
  const format = body.output_config?.format ?? body.output_format;
  if (format?.type === "json_schema" && format.schema != null) {
    ir.responseFormat = { type: "json_schema", schema: format.schema as JsonObject };
  }
  return ir;
}

type Block = RequestContentBlock | UnknownBlock;

function systemParts(system: MessagesRequest["system"]): IrPart[] {
  if (system == null) return [];
  if (typeof system === "string") return system === "" ? [] : [{ type: "text", text: system }];
  return system.flatMap((b) =>
    b.type === "text" && b.text !== "" ? [marked(textPart(b.text), b)] : []
  );
}

function textPart(text: string): IrTextPart {
  return { type: "text", text };
}

/**
 * The part with the block's prompt-cache breakpoint, if it has one. Read leniently: a
 * `cache_control` that is not Anthropic's `{type: "ephemeral"}` is not a marker.
 */
function marked<T extends { cache?: IrCacheMarker }>(part: T, block: object): T {
  const control = (block as { cache_control?: unknown }).cache_control;
  if (typeof control !== "object" || control === null) return part;
  const { type, ttl } = control as { type?: unknown; ttl?: unknown };
  if (type !== "ephemeral") return part;
  part.cache = typeof ttl === "string" ? { ttl } : {};
  return part;
}

/** Text and images (and plain-text documents, as text); everything else is not content. */
function contentPart(block: Block): Array<IrTextPart | IrImagePart> {
  switch (block.type) {
    case "text":
      return block.text === "" ? [] : [marked(textPart(block.text), block)];
    case "image": {
      const src = block.source;
      if (src.type === "base64") {
        return [marked<IrImagePart>({
          type: "image",
          source: { kind: "base64", mediaType: src.media_type, data: src.data },
        }, block)];
      }
      if (src.type === "url") {
        return [
          marked<IrImagePart>({ type: "image", source: { kind: "url", url: src.url } }, block),
        ];
      }
      return [];
    }
    case "document":
      // The IR has no file part: plain-text documents survive as text, PDFs/files are dropped.
      return block.source.type === "text" && block.source.data !== ""
        ? [marked(textPart(block.source.data), block)]
        : [];
    default:
      return [];
  }
}

function toolResultPart(
  block: Extract<RequestContentBlock, { type: "tool_result" }>,
): IrToolResultPart {
  const content = block.content == null
    ? []
    : typeof block.content === "string"
    ? (block.content === "" ? [] : [textPart(block.content)])
    : block.content.flatMap(contentPart);
  const part: IrToolResultPart = {
    type: "tool_result",
    toolCallId: decodeCallId(block.tool_use_id).id,
    content,
  };
  if (block.is_error === true) part.isError = true;
  return marked(part, block);
}

function assistantPart(block: Block): IrPart[] {
  switch (block.type) {
    case "thinking": {
      const part: IrReasoningPart = { type: "reasoning", text: block.thinking };
      if (block.signature != null && block.signature !== "") {
        const sig = signatureFromClient(block.signature);
        part.signature = sig.value;
        part.origin = sig.origin;
      }
      return part.text === "" && part.signature === undefined ? [] : [part];
    }
    case "redacted_thinking": {
      const data = signatureFromClient(block.data);
      return [{ type: "reasoning", text: "", redacted: data.value, origin: data.origin }];
    }
    case "image":
      // Assistant turns cannot carry images in any format we convert to.
      return [];
    default:
      return contentPart(block);
  }
}

/** Tool input as complete JSON text; an absent or empty input is `{}`. */
function argumentsText(input: unknown): string {
  if (input == null) return "{}";
  if (typeof input === "string") return input.trim() === "" ? "{}" : input;
  return JSON.stringify(input);
}

function toolsToIr(tools: MessagesRequest["tools"]): IrTool[] {
  const out: IrTool[] = [];
  // Server tools (web search, bash, text editor…) run inside Anthropic: no other API has them.
  for (const tool of tools ?? []) {
    if (!isCustomTool(tool) || typeof tool.name !== "string") continue;
    const ir: IrTool = {
      name: tool.name,
      parameters: (tool.input_schema as JsonObject | null | undefined) ??
        { type: "object", properties: {} },
    };
    if (tool.description != null) ir.description = tool.description;
    out.push(marked(ir, tool));
  }
  return out;
}

function toolChoiceToIr(choice: NonNullable<MessagesRequest["tool_choice"]>): IrToolChoice {
  switch (choice.type) {
    case "any":
      return { type: "required" };
    case "none":
      return { type: "none" };
    case "tool":
      return { type: "tool", name: choice.name ?? "" };
    default:
      return { type: "auto" };
  }
}

function reasoningToIr(body: MessagesRequest): IrRequest["reasoning"] {
  const out: NonNullable<IrRequest["reasoning"]> = {};
  const thinking = body.thinking;
  if (thinking?.type === "enabled") {
    out.enabled = true;
    out.budgetTokens = thinking.budget_tokens;
    out.includeThoughts = thinking.display !== "omitted";
  } else if (thinking?.type === "adaptive") {
    out.enabled = true;
    out.includeThoughts = thinking.display !== "omitted";
  } else if (thinking?.type === "disabled") {
    out.enabled = false;
  }
  // `output_config.effort` also knows "max"/"xhigh": the IR's highest level is "high".
  const effort = body.output_config?.effort;
  if (effort === "minimal" || effort === "low" || effort === "medium" || effort === "high") {
    out.effort = effort;
  } else if (effort === "max" || effort === "xhigh") {
    out.effort = "high";
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// Upstream side: IR → an Anthropic Messages request
// ---------------------------------------------------------------------------------------------

interface Turn {
  role: "user" | "assistant";
  content: AnthropicContentBlock[];
}

/**
 * IR request → Anthropic Messages body. Anthropic is strict where other APIs are lenient, so
 * this enforces its rules: one top-level system prompt, alternating turns, every `tool_use`
 * answered by a `tool_result` first thing in the next user turn, no empty text, a `max_tokens`,
 * and thinking only where and in the form the model accepts it (`options.caps`, else the
 * capability table). Reasoning signed by another family is dropped.
 */
export function irToAnthropicRequest(
  ir: IrRequest,
  model: string,
  options: EncodeOptions = {},
): AnthropicRequestBody {
  const caps = options.caps ?? builtinCapabilities(model);
  const messages = pairToolResults(mergeTurns(ir.messages.flatMap(toTurn)));
  trimFinalAssistant(messages);
  // Anthropic wants the conversation to open with a user turn (e.g. OpenAI greetings do not).
  if (messages.length === 0 || messages[0].role !== "user") {
    messages.unshift({ role: "user", content: [{ type: "text", text: "." }] });
  }

  const body: AnthropicRequestBody = { model, messages, max_tokens: DEFAULT_MAX_TOKENS };
  const system = systemBlocks(ir);
  if (system.length > 0) {
    // One string unless the client placed cache breakpoints in it.
    body.system = system.some((b) => b.cache_control !== undefined)
      ? system
      : system.map((b) => b.text).join("\n\n");
  }

  const tools = ir.tools.map((t) => ({
    name: t.name,
    ...(t.description !== undefined && t.description !== "" ? { description: t.description } : {}),
    // Anthropic insists on an object schema at the top.
    input_schema: { type: "object", ...t.parameters },
    ...cacheControl(t.cache),
  }));
  if (tools.length > 0) {
    body.tools = tools;
    const choice = toolChoiceToAnthropic(ir);
    if (choice) body.tool_choice = choice;
  }

  const thinking = thinkingRequest(ir, messages, body.tool_choice, caps);
  const budget = thinking?.type === "enabled" ? thinking.budget_tokens : undefined;
  const answerTokens = ir.maxTokens ??
    (thinking?.type === "adaptive" ? ADAPTIVE_DEFAULT_MAX_TOKENS : DEFAULT_MAX_TOKENS);
  // Thinking counts toward max_tokens and must stay below it: keep room for the answer.
  body.max_tokens = budget !== undefined && answerTokens <= budget
    ? budget + answerTokens
    : answerTokens;
  if (caps.maxOutputTokens !== undefined) {
    body.max_tokens = Math.min(body.max_tokens, caps.maxOutputTokens);
  }
  if (thinking?.type === "enabled") {
    // When the model's output cap leaves no room for an answer, half of it goes to thinking.
    const budget = thinking.budget_tokens < body.max_tokens
      ? thinking.budget_tokens
      : Math.max(MIN_THINKING_BUDGET, Math.floor(body.max_tokens / 2));
    body.thinking = { type: "enabled", budget_tokens: budget };
  } else if (thinking?.type === "adaptive") {
    body.thinking = { type: "adaptive" };
    if (thinking.effort !== undefined) body.output_config = { effort: thinking.effort };
  }
  if (thinking !== undefined) {
    // With thinking on, Anthropic rejects temperature/top_k and top_p below 0.95.
    if (ir.topP !== undefined && ir.topP >= 0.95) body.top_p = ir.topP;
    const dropped = [
      ...(ir.temperature !== undefined ? ["temperature"] : []),
      ...(ir.topK !== undefined ? ["top_k"] : []),
      ...(ir.topP !== undefined && ir.topP < 0.95 ? ["top_p"] : []),
    ];
    if (dropped.length > 0) options.onDropped?.(dropped);
  } else {
    if (ir.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, ir.temperature));
    if (ir.topP !== undefined) body.top_p = ir.topP;
    if (ir.topK !== undefined) body.top_k = ir.topK;
  }
  const stops = ir.stop.filter((s) => s.trim() !== "");
  if (stops.length > 0) body.stop_sequences = stops;
  if (ir.stream) body.stream = true;
  if (ir.user !== undefined && ir.user !== "") body.metadata = { user_id: ir.user };
  if (options.autoBreakpoints) addCacheBreakpoints(body);
  return body;
}

/**
 * The top-level system prompt: the IR system parts, then system turns from inside the
 * conversation (Anthropic has no system role in `messages`), then the JSON-mode instruction.
 */
function systemBlocks(ir: IrRequest): AnthropicTextBlock[] {
  const blocks = [
    ...ir.system,
    ...ir.messages.flatMap((m) => m.role === "system" ? m.parts : []),
  ].flatMap((p) => p.type === "text" ? textBlock(p.text, p.cache) : []);
  const json = jsonInstruction(ir.responseFormat);
  if (json) blocks.push({ type: "text", text: json });
  return blocks;
}

/** An IR cache marker as Anthropic's `cache_control`, to spread into a block. */
function cacheControl(
  cache: IrCacheMarker | undefined,
): { cache_control?: AnthropicCacheControl } {
  if (cache === undefined) return {};
  return {
    cache_control: cache.ttl !== undefined
      ? { type: "ephemeral", ttl: cache.ttl }
      : { type: "ephemeral" },
  };
}

/**
 * Anthropic has no `response_format` (structured outputs exist only as a newer, per-model
 * feature), so JSON mode is approximated with a system instruction. The answer is usually
 * valid JSON but, unlike OpenAI's strict mode, not guaranteed to match the schema.
 */
function jsonInstruction(format: IrRequest["responseFormat"]): string | undefined {
  const tail = "Do not add any explanation, prose or Markdown code fences around it.";
  if (format?.type === "json_object") {
    return `Respond only with a single valid JSON object. ${tail}`;
  }
  if (format?.type === "json_schema") {
    const name = format.name ? ` ("${format.name}")` : "";
    return `Respond only with a single valid JSON value that conforms to this JSON Schema${name}. ${tail}\n${
      JSON.stringify(format.schema)
    }`;
  }
  return undefined;
}

function toTurn(msg: IrMessage): Turn[] {
  switch (msg.role) {
    case "system":
      return [];
    case "assistant":
      return [{ role: "assistant", content: msg.parts.flatMap(assistantBlock) }];
    default:
      // User and tool turns are both user turns for Anthropic.
      return [{ role: "user", content: msg.parts.flatMap(userBlock) }];
  }
}

function textBlock(text: string, cache?: IrCacheMarker): AnthropicTextBlock[] {
  return text === "" ? [] : [{ type: "text", text, ...cacheControl(cache) }];
}

function imageBlock(part: IrImagePart): AnthropicImageBlock {
  const src = part.source;
  return {
    type: "image",
    source: src.kind === "url"
      ? { type: "url", url: src.url }
      : { type: "base64", media_type: src.mediaType, data: src.data },
    ...cacheControl(part.cache),
  };
}

function userBlock(part: IrPart): AnthropicContentBlock[] {
  switch (part.type) {
    case "text":
      return textBlock(part.text, part.cache);
    case "image":
      return [imageBlock(part)];
    case "tool_result":
      return [toolResultBlock(part)];
    default:
      return [];
  }
}

function toolResultBlock(part: IrToolResultPart): AnthropicToolResultBlock {
  const block: AnthropicToolResultBlock = {
    type: "tool_result",
    tool_use_id: part.toolCallId,
    ...cacheControl(part.cache),
  };
  const content = part.content.flatMap((p): Array<AnthropicTextBlock | AnthropicImageBlock> =>
    p.type === "text" ? textBlock(p.text, p.cache) : [imageBlock(p)]
  );
  // A lone text result goes as a plain string, the form every Anthropic-compatible host takes.
  if (content.length === 1 && content[0].type === "text" && !content[0].cache_control) {
    block.content = content[0].text;
  } else if (content.length > 0) block.content = content;
  if (part.isError) block.is_error = true;
  return block;
}

function assistantBlock(part: IrPart): AnthropicContentBlock[] {
  switch (part.type) {
    case "text":
      return textBlock(part.text, part.cache);
    case "tool_call":
      return [{
        type: "tool_use",
        id: part.id,
        name: part.name,
        input: toolInputObject(part.arguments),
        ...cacheControl(part.cache),
      }];
    case "reasoning":
      // Signatures only validate on Anthropic; unsigned or foreign reasoning cannot be replayed.
      if (part.origin !== "anthropic") return [];
      if (part.redacted !== undefined) return [{ type: "redacted_thinking", data: part.redacted }];
      if (part.signature !== undefined && part.signature !== "") {
        return [{ type: "thinking", thinking: part.text, signature: part.signature }];
      }
      return [];
    default:
      return [];
  }
}

/** Joins consecutive same-role turns and drops empty ones (Anthropic wants alternation). */
function mergeTurns(turns: Turn[]): Turn[] {
  const out: Turn[] = [];
  for (const turn of turns) {
    if (turn.content.length === 0) continue;
    const last = out.at(-1);
    if (last && last.role === turn.role) last.content.push(...turn.content);
    else out.push({ role: turn.role, content: [...turn.content] });
  }
  return out;
}

/**
 * Makes every user turn follow Anthropic's tool rules: tool results first, exactly one per
 * `tool_use` of the assistant turn just before. A missing result gets a stub; a result with
 * no matching call (e.g. history trimmed by the client) is kept as text so nothing is lost.
 */
function pairToolResults(turns: Turn[]): Turn[] {
  const out: Turn[] = [];
  for (let i = 0; i < turns.length; i++) {
    const turn = turns[i];
    if (turn.role === "assistant") {
      out.push(turn);
      const ids = turn.content.flatMap((b) => b.type === "tool_use" ? [b.id] : []);
      const next = turns[i + 1];
      if (ids.length > 0 && (!next || next.role !== "user")) {
        out.push({ role: "user", content: orderResults([], ids) });
      }
      continue;
    }
    const prev = out.at(-1);
    const ids = prev?.role === "assistant"
      ? prev.content.flatMap((b) => b.type === "tool_use" ? [b.id] : [])
      : [];
    out.push({ role: "user", content: orderResults(turn.content, ids) });
  }
  return out;
}

function orderResults(content: AnthropicContentBlock[], ids: string[]): AnthropicContentBlock[] {
  const wanted = new Set(ids);
  const results = new Map<string, AnthropicToolResultBlock>();
  const rest: AnthropicContentBlock[] = [];
  for (const block of content) {
    if (block.type !== "tool_result") rest.push(block);
    else if (wanted.has(block.tool_use_id) && !results.has(block.tool_use_id)) {
      results.set(block.tool_use_id, block);
    } else rest.push(...orphanResult(block));
  }
  const ordered: AnthropicContentBlock[] = ids.map((id) =>
    results.get(id) ?? {
      type: "tool_result",
      tool_use_id: id,
      content: "No result was provided for this tool call.",
      is_error: true,
    }
  );
  return [...ordered, ...rest];
}

function orphanResult(block: AnthropicToolResultBlock): AnthropicContentBlock[] {
  const head: AnthropicTextBlock = {
    type: "text",
    text: `Result of tool call ${block.tool_use_id}:`,
  };
  if (block.content === undefined) return [head];
  if (typeof block.content === "string") {
    return [{ type: "text", text: `${head.text}\n${block.content}` }];
  }
  return [head, ...block.content];
}

/** Anthropic rejects a final assistant turn (a prefill) that ends in whitespace. */
function trimFinalAssistant(turns: Turn[]): void {
  const last = turns.at(-1);
  if (!last || last.role !== "assistant") return;
  const block = last.content.at(-1);
  if (block?.type !== "text") return;
  block.text = block.text.trimEnd();
  if (block.text === "") last.content.pop();
  if (last.content.length === 0) turns.pop();
}

function toolChoiceToAnthropic(ir: IrRequest): AnthropicToolChoice | undefined {
  const noParallel = ir.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  switch (ir.toolChoice?.type) {
    case "none":
      return { type: "none" };
    case "required":
      return { type: "any", ...noParallel };
    case "tool":
      return { type: "tool", name: ir.toolChoice.name, ...noParallel };
    default:
      return ir.toolChoice || ir.parallelToolCalls === false
        ? { type: "auto", ...noParallel }
        : undefined;
  }
}

type ThinkingRequest =
  | { type: "enabled"; budget_tokens: number }
  | { type: "adaptive"; effort?: "low" | "medium" | "high" };

/**
 * The thinking to ask for, or undefined for none: adaptive with an effort level for models
 * that take it (Opus 4.6 and later; `enabled` is refused or deprecated there), else a token
 * budget. Anthropic refuses thinking with a forced tool choice, and when the turn being
 * continued (the last assistant turn) does not start with a thinking block, e.g. history
 * produced by another model; thinking is dropped then.
 */
function thinkingRequest(
  ir: IrRequest,
  messages: AnthropicMessageParam[],
  choice: AnthropicToolChoice | undefined,
  caps: ModelCapabilities,
): ThinkingRequest | undefined {
  const r = ir.reasoning;
  if (!r || r.enabled === false || caps.thinking === "none") return undefined;
  // Gemini's thinkingBudget 0 means off; -1 means "dynamic".
  if (r.budgetTokens === 0) return undefined;
  const asked = r.budgetTokens !== undefined || r.effort !== undefined || r.enabled === true;
  if (!asked) return undefined;
  if (choice?.type === "any" || choice?.type === "tool") return undefined;
  const lastAssistant = messages.findLast((m) => m.role === "assistant");
  if (lastAssistant) {
    const continues = lastAssistant === messages.at(-1) ||
      lastAssistant.content.some((b) => b.type === "tool_use");
    const first = lastAssistant.content[0]?.type;
    if (continues && first !== "thinking" && first !== "redacted_thinking") return undefined;
  }
  if (caps.thinking !== "budget") {
    const effort = r.effort !== undefined
      ? (r.effort === "minimal" ? "low" : r.effort)
      : r.budgetTokens !== undefined && r.budgetTokens > 0
      ? effortForBudget(r.budgetTokens)
      : undefined;
    return effort !== undefined ? { type: "adaptive", effort } : { type: "adaptive" };
  }
  const budget = r.budgetTokens !== undefined && r.budgetTokens > 0
    ? r.budgetTokens
    : r.effort !== undefined
    ? EFFORT_BUDGETS[r.effort]
    : EFFORT_BUDGETS.medium;
  return { type: "enabled", budget_tokens: Math.max(MIN_THINKING_BUDGET, Math.floor(budget)) };
}
