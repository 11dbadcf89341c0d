import { RequestError } from "../../errors.ts";
import type {
  IrImagePart,
  IrMessage,
  IrPart,
  IrRequest,
  IrTool,
  IrToolChoice,
  JsonObject,
} from "../../ir/types.ts";
import type { RequestHints } from "../client_format.ts";
import {
  fetchImages,
  type ImageFetchOptions,
  type ImageFetchSettings,
  type InlineData,
} from "./image_fetch.ts";
import { geminiSchemaToJsonSchema, toGeminiJsonSchema, toGeminiParameters } from "./json_schema.ts";
import {
  type CallIdSource,
  functionResponseToIr,
  geminiMediaToIr,
  geminiModelPartToIr,
  idSafe,
  irModelParts,
  toolResultToResponse,
} from "./parts.ts";
import { decodeCarried, pushCarriedCall } from "../signature_carrier.ts";
import type { GeminiContent, GeminiRequest, GeminiWireContent, GeminiWirePart } from "./schema.ts";

type Reasoning = NonNullable<IrRequest["reasoning"]>;
type Effort = NonNullable<Reasoning["effort"]>;
const EFFORTS: readonly Effort[] = ["minimal", "low", "medium", "high"];

// ---------------------------------------------------------------------------------------------
// Client side: Gemini request → IR
// ---------------------------------------------------------------------------------------------

/**
 * Tool-call ids for a Gemini history, which has none: `call_<name>_<n>`, n counting every
 * function call of the history in order, so the same history always yields the same ids and
 * parallel calls to one function stay distinct. A functionResponse takes the oldest unanswered
 * call of its name (or the call whose id it names, when the client kept ids).
 */
class HistoryCallIds implements CallIdSource {
  #count = 0;
  #pending = new Map<string, string[]>();

  next(name: string, explicit?: string | null): string {
    const id = explicit ? explicit : `call_${idSafe(name)}_${this.#count}`;
    this.#count++;
    const queue = this.#pending.get(name) ?? [];
    queue.push(id);
    this.#pending.set(name, queue);
    return id;
  }

  answer(name: string, explicit?: string | null): string {
    const queue = this.#pending.get(name) ?? [];
    if (explicit) {
      const at = queue.indexOf(explicit);
      if (at !== -1) {
        queue.splice(at, 1);
        return explicit;
      }
    }
    // Client-made ids that match no call (Gemini CLI invents its own) fall back to name + order.
    const id = queue.shift();
    if (id !== undefined) return id;
    return `call_${idSafe(name)}_${this.#count++}`;
  }
}

/** Converts a validated Gemini `generateContent` body into the IR. */
export function geminiRequestToIr(body: GeminiRequest, hints: RequestHints): IrRequest {
  const model = hints.model ?? body.model?.replace(/^models\//, "");
  if (!model) throw new RequestError("The model is missing from the URL path.");

  const system: IrPart[] = [];
  const instruction = body.systemInstruction;
  if (typeof instruction === "string") {
    if (instruction !== "") system.push({ type: "text", text: instruction });
  } else if (instruction) {
    for (const part of instruction.parts ?? []) {
      if (typeof part.text === "string" && part.text !== "") {
        system.push({ type: "text", text: part.text });
      }
    }
  }

  const ids = new HistoryCallIds();
  const messages: IrMessage[] = [];
  for (const content of body.contents) {
    if (content.role === "model") messages.push(...modelContentToIr(content, ids));
    else messages.push(...userContentToIr(content, ids));
  }

  const tools: IrTool[] = [];
  for (const tool of body.tools ?? []) {
    for (const fn of tool.functionDeclarations ?? []) {
      const schema = fn.parametersJsonSchema ?? fn.parameters;
      tools.push({
        name: fn.name,
        ...(fn.description ? { description: fn.description } : {}),
        parameters: schema
          ? geminiSchemaToJsonSchema(schema as JsonObject)
          : { type: "object", properties: {} },
      });
    }
  }

  const gen = body.generationConfig ?? {};
  const ir: IrRequest = {
    model,
    system,
    messages,
    tools,
    stop: gen.stopSequences ?? [],
    stream: hints.stream === true,
  };
  // Gemini streams always end with usageMetadata: ask upstreams that send it only on request.
  if (ir.stream) ir.includeUsage = true;
  if (gen.maxOutputTokens != null) ir.maxTokens = gen.maxOutputTokens;
  if (gen.temperature != null) ir.temperature = gen.temperature;
  if (gen.topP != null) ir.topP = gen.topP;
  if (gen.topK != null) ir.topK = gen.topK;
  if (gen.seed != null) ir.seed = gen.seed;
  if (gen.candidateCount != null) ir.n = gen.candidateCount;

  const choice = toolChoiceToIr(body.toolConfig?.functionCallingConfig);
  if (choice) ir.toolChoice = choice;

  const mime = gen.responseMimeType?.toLowerCase();
  if (mime === "application/json") {
    const schema = gen.responseJsonSchema ?? gen.responseSchema;
    ir.responseFormat = schema
      ? { type: "json_schema", schema: geminiSchemaToJsonSchema(schema as JsonObject) }
      : { type: "json_object" };
  }

  const reasoning = thinkingToIr(gen.thinkingConfig);
  if (reasoning) ir.reasoning = reasoning;
  return ir;
}

function modelContentToIr(content: GeminiContent, ids: HistoryCallIds): IrMessage[] {
  const parts: IrPart[] = [];
  for (const part of content.parts ?? []) {
    // Foreign signatures ride, tagged, in a function call's thoughtSignature.
    const carried = part.thoughtSignature ? decodeCarried(part.thoughtSignature) : undefined;
    const converted = geminiModelPartToIr(part, ids);
    const call = converted[0];
    if (carried && part.functionCall && call?.type === "tool_call") {
      pushCarriedCall(parts, call, carried);
    } else parts.push(...converted);
  }
  return parts.length > 0 ? [{ role: "assistant", parts }] : [];
}

/**
 * A user turn: functionResponse parts become IR tool messages (one per result, in place),
 * everything else user messages, keeping the order they came in.
 */
function userContentToIr(content: GeminiContent, ids: HistoryCallIds): IrMessage[] {
  const out: IrMessage[] = [];
  let user: IrPart[] = [];
  const flush = (): void => {
    if (user.length > 0) out.push({ role: "user", parts: user });
    user = [];
  };
  for (const part of content.parts ?? []) {
    const fr = part.functionResponse;
    if (fr) {
      flush();
      const { content: text, isError } = functionResponseToIr(fr.response);
      const media = (fr.parts ?? []).map(geminiMediaToIr).filter((p): p is IrImagePart => !!p);
      out.push({
        role: "tool",
        parts: [{
          type: "tool_result",
          toolCallId: ids.answer(fr.name, fr.id),
          name: fr.name,
          content: [...text, ...media],
          ...(isError ? { isError: true } : {}),
        }],
      });
      continue;
    }
    if (typeof part.text === "string") {
      if (part.text !== "" && part.thought !== true) user.push({ type: "text", text: part.text });
      continue;
    }
    const media = geminiMediaToIr(part);
    if (media) user.push(media);
  }
  flush();
  return out;
}

function toolChoiceToIr(
  config: NonNullable<GeminiRequest["toolConfig"]>["functionCallingConfig"],
): IrToolChoice | undefined {
  switch (config?.mode) {
    case "AUTO":
    case "VALIDATED":
      return { type: "auto" };
    case "NONE":
      return { type: "none" };
    case "ANY": {
      // The IR names one forced tool; a longer allow-list can only be "some tool".
      const names = config.allowedFunctionNames ?? [];
      return names.length === 1 ? { type: "tool", name: names[0] } : { type: "required" };
    }
    default:
      return undefined;
  }
}

function thinkingToIr(
  config: NonNullable<GeminiRequest["generationConfig"]>["thinkingConfig"],
): Reasoning | undefined {
  if (!config) return undefined;
  const out: Reasoning = {};
  const budget = config.thinkingBudget;
  if (budget === 0) out.enabled = false;
  else if (budget != null && budget < 0) out.enabled = true; // -1: dynamic budget
  else if (budget != null) {
    out.enabled = true;
    out.budgetTokens = budget;
  }
  if (config.includeThoughts != null) out.includeThoughts = config.includeThoughts;
  const level = config.thinkingLevel?.toLowerCase() as Effort | undefined;
  if (level && EFFORTS.includes(level)) out.effort = level;
  return Object.keys(out).length > 0 ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// Upstream side: IR → Gemini request
// ---------------------------------------------------------------------------------------------

/** The request body sent to `generateContent` / `streamGenerateContent`. */
export interface GeminiRequestBody {
  contents: GeminiWireContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<{ functionDeclarations: GeminiFunctionDeclaration[] }>;
  toolConfig?: {
    functionCallingConfig: { mode: "AUTO" | "ANY" | "NONE"; allowedFunctionNames?: string[] };
  };
  generationConfig?: GeminiGenerationConfig;
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: JsonObject;
  parametersJsonSchema?: JsonObject;
}

export interface GeminiGenerationConfig {
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stopSequences?: string[];
  candidateCount?: number;
  seed?: number;
  responseMimeType?: string;
  responseJsonSchema?: JsonObject;
  thinkingConfig?: {
    thinkingBudget?: number;
    thinkingLevel?: string;
    includeThoughts?: boolean;
  };
}

export interface IrToGeminiOptions {
  /** The upstream model name (after alias resolution); picks thinkingBudget vs thinkingLevel. */
  model?: string;
  /**
   * Where tool schemas go. `parameters` (default): cleaned into Google's OpenAPI subset, which
   * every Gemini model and Vertex accept. `parametersJsonSchema`: plain JSON Schema, lossless,
   * for models that support it.
   */
  toolSchema?: "parameters" | "parametersJsonSchema";
  /**
   * Signature put on a model turn's first function call when it has no Gemini signature
   * (history from another backend). Gemini 3 rejects unsigned calls; Google documents
   * `skip_thought_signature_validator` for exactly this case.
   */
  missingThoughtSignature?: string;
  /** Fetching http(s) image URLs into inline data. */
  images?: ImageFetchOptions;
}

/** Gemini 1.x/2.x think by token budget only; later models by level. */
function isBudgetModel(model: string): boolean {
  return /^(models\/)?gemini-[12][.-]/.test(model);
}

// Budgets for an effort level on budget-only models (2.5 Flash-Lite's floor is 512).
const EFFORT_BUDGET: Record<Effort, number> = {
  minimal: 512,
  low: 1024,
  medium: 8192,
  high: 24576,
};

/** Google documents this stand-in signature for function calls made by another backend. */
const SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator";

/**
 * The request body every Gemini-speaking upstream (AI Studio, Vertex, Code Assist) sends:
 * Gemini 3+ reject unsigned function calls in the history, 1.x/2.x do not check them.
 */
export function upstreamGeminiRequest(
  ir: IrRequest,
  model: string,
  signal: AbortSignal,
  imageFetch?: ImageFetchSettings,
): Promise<GeminiRequestBody> {
  const validates = !/^(models\/)?(gemini-[12][.-]|gemma)/.test(model);
  return irToGeminiRequest(ir, {
    model,
    missingThoughtSignature: validates ? SKIP_THOUGHT_SIGNATURE : undefined,
    images: { signal, settings: imageFetch },
  });
}

/**
 * Converts an IR request into a Gemini request body. Async because http(s) image URLs must be
 * downloaded (Gemini takes inline bytes); an image that cannot be fetched is a RequestError 400.
 */
export async function irToGeminiRequest(
  ir: IrRequest,
  options: IrToGeminiOptions = {},
): Promise<GeminiRequestBody> {
  const fetched = await inlineImages(ir, options.images ?? {});
  const names = new Map<string, string>();
  for (const msg of ir.messages) {
    for (const part of msg.parts) if (part.type === "tool_call") names.set(part.id, part.name);
  }

  const systemTexts: string[] = [];
  for (const part of ir.system) {
    if (part.type === "text" && part.text !== "") systemTexts.push(part.text);
  }

  const contents: GeminiWireContent[] = [];
  for (const msg of ir.messages) {
    if (msg.role === "system") {
      for (const part of msg.parts) {
        if (part.type === "text" && part.text !== "") systemTexts.push(part.text);
      }
      continue;
    }
    const role = msg.role === "assistant" ? "model" : "user";
    const parts = role === "model"
      ? irModelParts(msg.parts, { side: "upstream" })
      : userParts(msg.parts, names, fetched);
    if (parts.length === 0) continue;
    const last = contents.at(-1);
    // Gemini wants alternating turns: consecutive same-role messages (tool results, then the
    // user's text) share one content.
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  }
  orderResponses(contents);
  if (options.missingThoughtSignature) fillSignatures(contents, options.missingThoughtSignature);

  const body: GeminiRequestBody = { contents };
  if (systemTexts.length > 0) {
    body.systemInstruction = { parts: systemTexts.map((text) => ({ text })) };
  }

  if (ir.tools.length > 0) {
    body.tools = [{
      functionDeclarations: ir.tools.map((t) => toDeclaration(t, options.toolSchema)),
    }];
    const config = toolChoiceToGemini(ir.toolChoice);
    if (config) body.toolConfig = { functionCallingConfig: config };
  }

  const gen: GeminiGenerationConfig = {};
  if (ir.maxTokens !== undefined) gen.maxOutputTokens = ir.maxTokens;
  if (ir.temperature !== undefined) gen.temperature = ir.temperature;
  if (ir.topP !== undefined) gen.topP = ir.topP;
  if (ir.topK !== undefined) gen.topK = ir.topK;
  if (ir.stop.length > 0) gen.stopSequences = ir.stop;
  if (ir.seed !== undefined) gen.seed = ir.seed;
  if (ir.n !== undefined && ir.n > 1) gen.candidateCount = ir.n;
  const format = ir.responseFormat;
  if (format?.type === "json_object") gen.responseMimeType = "application/json";
  else if (format?.type === "json_schema") {
    gen.responseMimeType = "application/json";
    gen.responseJsonSchema = toGeminiJsonSchema(format.schema);
  }
  const thinking = thinkingToGemini(ir.reasoning, options.model ?? ir.model);
  if (thinking) gen.thinkingConfig = thinking;
  if (Object.keys(gen).length > 0) body.generationConfig = gen;
  return body;
}

function userParts(
  parts: IrPart[],
  names: Map<string, string>,
  fetched: Map<string, InlineData>,
): GeminiWirePart[] {
  const out: GeminiWirePart[] = [];
  const results: GeminiWirePart[] = [];
  const media: GeminiWirePart[] = [];
  for (const part of parts) {
    switch (part.type) {
      case "text":
        if (part.text !== "") out.push({ text: part.text });
        break;
      case "image":
        out.push(imagePart(part, fetched));
        break;
      case "tool_result": {
        const name = part.name ?? names.get(part.toolCallId);
        if (!name) {
          throw new RequestError(
            `The tool result for '${part.toolCallId}' answers no earlier tool call, so its function name is unknown.`,
          );
        }
        results.push({
          functionResponse: { id: part.toolCallId, name, response: toolResultToResponse(part) },
        });
        for (const p of part.content) if (p.type === "image") media.push(imagePart(p, fetched));
        break;
      }
      default:
        break;
    }
  }
  // Function responses lead the turn, as Gemini pairs them with the preceding calls.
  return [...results, ...media, ...out];
}

/** Gemini's own file URIs and YouTube links go by reference; other URLs were fetched inline. */
function isGeminiFileUri(url: string): boolean {
  return url.startsWith("https://generativelanguage.googleapis.com/") ||
    url.startsWith("gs://") ||
    /^https:\/\/(www\.)?(youtube\.com|youtu\.be)\//.test(url);
}

function imagePart(part: IrImagePart, fetched: Map<string, InlineData>): GeminiWirePart {
  const src = part.source;
  if (src.kind === "base64") return { inlineData: { mimeType: src.mediaType, data: src.data } };
  const inline = fetched.get(src.url);
  if (inline) return { inlineData: inline };
  return { fileData: { fileUri: src.url } };
}

async function inlineImages(
  ir: IrRequest,
  options: ImageFetchOptions,
): Promise<Map<string, InlineData>> {
  const out = new Map<string, InlineData>();
  const urls = new Set<string>();
  const visit = (part: IrPart): void => {
    if (part.type === "tool_result") return part.content.forEach(visit);
    if (part.type !== "image" || part.source.kind !== "url") return;
    const url = part.source.url;
    // data: URLs that reached the IR as URLs are inline already.
    const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (data) out.set(url, { mimeType: data[1], data: data[2] });
    else if (!isGeminiFileUri(url)) urls.add(url);
  };
  for (const msg of ir.messages) msg.parts.forEach(visit);
  for (const [url, inline] of await fetchImages([...urls], options)) out.set(url, inline);
  return out;
}

/**
 * Puts each turn's function responses in the order of the calls they answer (the model turn
 * just before), ahead of its other parts. Gemini pairs responses with calls by position; a
 * client may send results in any order (parallel tools finish when they finish).
 */
function orderResponses(contents: GeminiWireContent[]): void {
  contents.forEach((content, i) => {
    const prev = contents[i - 1];
    if (content.role !== "user" || prev?.role !== "model") return;
    const order = new Map<string, number>();
    prev.parts.forEach((p, at) => {
      if (p.functionCall?.id !== undefined) order.set(p.functionCall.id, at);
    });
    const responses = content.parts.filter((p) => p.functionResponse);
    if (order.size === 0 || responses.length < 2) return;
    const rank = (p: GeminiWirePart): number =>
      order.get(p.functionResponse?.id ?? "") ?? Number.MAX_SAFE_INTEGER;
    // A stable sort: responses to unknown ids keep their relative order, after the known ones.
    responses.sort((a, b) => rank(a) - rank(b));
    content.parts = [...responses, ...content.parts.filter((p) => !p.functionResponse)];
  });
}

/** Puts `signature` on the first function call of every model turn that has no signature there. */
function fillSignatures(contents: GeminiWireContent[], signature: string): void {
  for (const content of contents) {
    if (content.role !== "model") continue;
    const first = content.parts.find((p) => p.functionCall);
    if (first && first.thoughtSignature === undefined) first.thoughtSignature = signature;
  }
}

function toDeclaration(
  tool: IrTool,
  mode: IrToGeminiOptions["toolSchema"],
): GeminiFunctionDeclaration {
  const out: GeminiFunctionDeclaration = { name: tool.name };
  if (tool.description) out.description = tool.description;
  if (mode === "parametersJsonSchema") {
    out.parametersJsonSchema = toGeminiJsonSchema(tool.parameters);
  } else {
    const params = toGeminiParameters(tool.parameters);
    if (params) out.parameters = params;
  }
  return out;
}

function toolChoiceToGemini(
  choice: IrToolChoice | undefined,
): NonNullable<GeminiRequestBody["toolConfig"]>["functionCallingConfig"] | undefined {
  switch (choice?.type) {
    case "auto":
      return { mode: "AUTO" };
    case "none":
      return { mode: "NONE" };
    case "required":
      return { mode: "ANY" };
    case "tool":
      return { mode: "ANY", allowedFunctionNames: [choice.name] };
    default:
      return undefined;
  }
}

function thinkingToGemini(
  reasoning: IrRequest["reasoning"],
  model: string,
): GeminiGenerationConfig["thinkingConfig"] | undefined {
  if (!reasoning) return undefined;
  const budgetModel = isBudgetModel(model);
  const out: NonNullable<GeminiGenerationConfig["thinkingConfig"]> = {};
  if (reasoning.enabled === false) {
    // Gemini 3 cannot turn thinking off; "low" is the least every Gemini 3 model accepts.
    if (budgetModel) out.thinkingBudget = 0;
    else out.thinkingLevel = "low";
    out.includeThoughts = false;
    return out;
  }
  // thinkingBudget and thinkingLevel together are a 400: send one.
  if (reasoning.budgetTokens !== undefined) out.thinkingBudget = reasoning.budgetTokens;
  else if (reasoning.effort !== undefined) {
    if (budgetModel) out.thinkingBudget = EFFORT_BUDGET[reasoning.effort];
    else out.thinkingLevel = reasoning.effort;
  } else if (reasoning.enabled === true && budgetModel) out.thinkingBudget = -1;
  if (reasoning.includeThoughts !== undefined) out.includeThoughts = reasoning.includeThoughts;
  return Object.keys(out).length > 0 ? out : undefined;
}
