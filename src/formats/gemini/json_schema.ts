import type { JsonObject, JsonValue } from "../../ir/types.ts";
import { RequestError } from "../../errors.ts";

/**
 * Schema conversions between plain JSON Schema (the IR's language, what OpenAI and Anthropic
 * speak) and Gemini's two schema fields:
 * - `parameters` / `responseSchema`: Google's OpenAPI 3.0 subset, a protobuf message that answers
 *   400 "Unknown name ..." for any keyword outside it (`additionalProperties`, `$ref`, `const`,
 *   `exclusiveMinimum`, `uniqueItems`...). `toGeminiSchema` rewrites into that subset.
 * - `parametersJsonSchema` / `responseJsonSchema`: plain JSON Schema; `toGeminiJsonSchema` only
 *   drops `$schema`.
 * Schemas written by Gemini clients use upper-case type names (`STRING`, `OBJECT`) and
 * `nullable`; `geminiSchemaToJsonSchema` turns them into lower-case JSON Schema for the IR.
 */

type Obj = { [key: string]: JsonValue };

function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Fields of Google's `Schema` message that carry no sub-schema and are copied as they are. */
const PLAIN_KEYS = [
  "title",
  "description",
  "default",
  "example",
  "pattern",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
] as const;

/** `format` values the `Schema` message accepts, by type; others are dropped. */
const FORMATS: Record<string, string[]> = {
  STRING: ["enum", "date-time"],
  NUMBER: ["float", "double"],
  INTEGER: ["int32", "int64"],
};

const TYPES = new Set(["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"]);

/** Refs nested deeper than this are cut (recursive schemas cannot be inlined). */
const MAX_REF_DEPTH = 8;

/**
 * Schemas nested deeper than this are refused (400) rather than recursed into: the body parser
 * already limits nesting, and inlined refs add at most `MAX_REF_DEPTH` levels of it.
 */
const MAX_SCHEMA_DEPTH = 256;

interface CleanContext {
  defs: Obj;
  refChain: string[];
  depth: number;
}

function tooDeep(): RequestError {
  return new RequestError(
    `A JSON schema nests deeper than ${MAX_SCHEMA_DEPTH} levels.`,
    "schema_too_deep",
  );
}

/**
 * JSON Schema → the OpenAPI subset of Gemini's `parameters`: refs inlined from `$defs` /
 * `definitions`, `allOf` merged, `oneOf` read as `anyOf`, `type: [x, "null"]` and null variants
 * turned into `nullable`, `const` into a one-value `enum`, unsupported keywords and formats
 * dropped, `required` limited to declared properties, type names upper-cased.
 */
export function toGeminiSchema(schema: JsonObject): JsonObject {
  const defs: Obj = {};
  for (const key of ["definitions", "$defs"]) {
    const d = schema[key];
    if (isObj(d)) Object.assign(defs, d);
  }
  return clean(schema, { defs, refChain: [], depth: 0 });
}

/**
 * The `parameters` value for a function declaration, or undefined when the function takes no
 * arguments: Gemini rejects an OBJECT with empty `properties` at the top level.
 */
export function toGeminiParameters(schema: JsonObject): JsonObject | undefined {
  const out = toGeminiSchema(schema);
  if (!isObj(out.properties) || Object.keys(out.properties).length === 0) return undefined;
  return out;
}

/** Plain JSON Schema for `parametersJsonSchema` / `responseJsonSchema`. */
export function toGeminiJsonSchema(schema: JsonObject): JsonObject {
  const { $schema: _drop, ...rest } = schema;
  return rest;
}

function resolveRef(ref: string, ctx: CleanContext): Obj | undefined {
  const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
  if (!m) return undefined;
  const name = m[1].replace(/~1/g, "/").replace(/~0/g, "~");
  const target = ctx.defs[name];
  return isObj(target) ? target : undefined;
}

function clean(input: JsonValue, parent: CleanContext): Obj {
  if (!isObj(input)) return {};
  if (parent.depth >= MAX_SCHEMA_DEPTH) throw tooDeep();
  const ctx: CleanContext = { ...parent, depth: parent.depth + 1 };
  let node: Obj = input;

  const ref = node.$ref;
  if (typeof ref === "string") {
    const { $ref: _r, ...siblings } = node;
    const target = resolveRef(ref, ctx);
    if (!target || ctx.refChain.includes(ref) || ctx.refChain.length >= MAX_REF_DEPTH) {
      // Unresolvable or recursive: keep a permissive object and say what it was.
      const out: Obj = { type: "OBJECT" };
      const description = typeof siblings.description === "string"
        ? siblings.description
        : typeof target?.description === "string"
        ? target.description
        : undefined;
      if (description !== undefined) out.description = description;
      return out;
    }
    return clean({ ...target, ...siblings }, { ...ctx, refChain: [...ctx.refChain, ref] });
  }

  if (Array.isArray(node.allOf)) node = mergeAllOf(node, ctx);

  const out: Obj = {};
  let nullable = node.nullable === true;

  // Type: a list with "null" becomes nullable; several real types become anyOf.
  let types: string[] = [];
  if (typeof node.type === "string") types = [node.type];
  else if (Array.isArray(node.type)) {
    types = node.type.filter((t): t is string => typeof t === "string");
  }
  types = types.map((t) => t.toUpperCase());
  if (types.includes("NULL") && types.length > 1) {
    nullable = true;
    types = types.filter((t) => t !== "NULL");
  }
  types = types.filter((t) => TYPES.has(t));

  for (const key of PLAIN_KEYS) {
    if (node[key] !== undefined) out[key] = node[key];
  }

  // enum and const: Gemini enums are strings only.
  let values: JsonValue[] | undefined = Array.isArray(node.enum)
    ? node.enum
    : node.const !== undefined
    ? [node.const]
    : undefined;
  if (values) {
    if (values.includes(null)) {
      nullable = true;
      values = values.filter((v) => v !== null);
    }
    if (values.length > 0 && values.every((v) => typeof v === "string")) {
      out.enum = values;
      if (types.length === 0) types = ["STRING"];
    }
  }

  // anyOf / oneOf: null variants become nullable; a single remaining variant is inlined.
  const variants = Array.isArray(node.anyOf)
    ? node.anyOf
    : Array.isArray(node.oneOf)
    ? node.oneOf
    : undefined;
  if (variants) {
    const cleaned: Obj[] = [];
    for (const v of variants) {
      const c = clean(v, ctx);
      if (c.type === "NULL" && Object.keys(c).length === 1) nullable = true;
      else cleaned.push(c);
    }
    if (cleaned.length === 1 && types.length === 0) {
      const single = cleaned[0];
      if (single.nullable === true) nullable = true;
      for (const [k, v] of Object.entries(single)) {
        if (k !== "nullable" && out[k] === undefined) out[k] = v;
      }
      if (typeof single.type === "string") types = [single.type];
    } else if (cleaned.length > 0) {
      out.anyOf = cleaned;
    }
  }

  if (types.length === 1) out.type = types[0];
  else if (types.length > 1 && out.anyOf === undefined) {
    out.anyOf = types.map((t) => ({ type: t }));
  }

  const type = typeof out.type === "string" ? out.type : undefined;
  if (typeof node.format === "string" && type && FORMATS[type]?.includes(node.format)) {
    out.format = node.format;
  }

  if (isObj(node.properties)) {
    const props: Obj = {};
    for (const [name, sub] of Object.entries(node.properties)) props[name] = clean(sub, ctx);
    if (Object.keys(props).length > 0) {
      out.properties = props;
      if (out.type === undefined && out.anyOf === undefined) out.type = "OBJECT";
      if (Array.isArray(node.required)) {
        const required = node.required.filter((r): r is string =>
          typeof r === "string" && r in props
        );
        if (required.length > 0) out.required = required;
      }
      if (Array.isArray(node.propertyOrdering)) {
        const order = node.propertyOrdering.filter((r): r is string =>
          typeof r === "string" && r in props
        );
        if (order.length > 0) out.propertyOrdering = order;
      }
    }
  }

  const items = Array.isArray(node.items) ? node.items[0] : node.items;
  if (items !== undefined && items !== null && typeof items === "object") {
    out.items = clean(items, ctx);
    if (out.type === undefined) out.type = "ARRAY";
  } else if (out.type === "ARRAY") {
    // Gemini requires `items` for arrays; an untyped element keeps the call permissive.
    out.items = { type: "STRING" };
  }

  if (nullable) out.nullable = true;
  return out;
}

/** Merges `allOf` members into their parent: properties and required are unioned. */
function mergeAllOf(node: Obj, ctx: CleanContext): Obj {
  const { allOf, ...base } = node;
  const merged: Obj = { ...base };
  const props: Obj = isObj(base.properties) ? { ...base.properties } : {};
  const required = new Set<string>(
    Array.isArray(base.required) ? base.required.filter((r) => typeof r === "string") : [],
  );
  for (const member of Array.isArray(allOf) ? allOf : []) {
    let m: JsonValue = member;
    if (isObj(m) && typeof m.$ref === "string") m = resolveRef(m.$ref, ctx) ?? {};
    if (!isObj(m)) continue;
    if (isObj(m.properties)) Object.assign(props, m.properties);
    if (Array.isArray(m.required)) {
      for (const r of m.required) if (typeof r === "string") required.add(r);
    }
    for (const [k, v] of Object.entries(m)) {
      if (k !== "properties" && k !== "required" && merged[k] === undefined) merged[k] = v;
    }
  }
  if (Object.keys(props).length > 0) merged.properties = props;
  if (required.size > 0) merged.required = [...required];
  return merged;
}

/** Keys whose value is one sub-schema, a list of them, or a map of them (JSON Schema). */
const SUB_SCHEMA = ["items", "not", "additionalProperties", "contains", "if", "then", "else"];
const SUB_SCHEMA_LISTS = ["anyOf", "oneOf", "allOf", "prefixItems"];
const SUB_SCHEMA_MAPS = ["properties", "$defs", "definitions", "patternProperties"];

/**
 * A schema written by a Gemini client → JSON Schema for the IR: type names lower-cased,
 * `nullable: true` folded into the type list, Gemini-only keywords (`propertyOrdering`,
 * `format: "enum"`) dropped. Property names and values are never touched.
 */
export function geminiSchemaToJsonSchema(schema: JsonObject): JsonObject {
  return lowerSchema(schema, 0) as JsonObject;
}

function lowerSchema(input: JsonValue, depth: number): JsonValue {
  if (depth >= MAX_SCHEMA_DEPTH) throw tooDeep();
  if (Array.isArray(input)) return input.map((v) => lowerSchema(v, depth + 1));
  if (!isObj(input)) return input;
  const out: Obj = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === "propertyOrdering" || key === "nullable") continue;
    if (key === "format" && value === "enum") continue;
    if (key === "type") {
      out.type = typeof value === "string"
        ? value.toLowerCase()
        : Array.isArray(value)
        ? value.map((t) => typeof t === "string" ? t.toLowerCase() : t)
        : value;
    } else if (SUB_SCHEMA.includes(key) && (isObj(value) || Array.isArray(value))) {
      out[key] = lowerSchema(value, depth + 1);
    } else if (SUB_SCHEMA_LISTS.includes(key) && Array.isArray(value)) {
      out[key] = value.map((v) => lowerSchema(v, depth + 1));
    } else if (SUB_SCHEMA_MAPS.includes(key) && isObj(value)) {
      const map: Obj = {};
      for (const [name, sub] of Object.entries(value)) map[name] = lowerSchema(sub, depth + 1);
      out[key] = map;
    } else {
      out[key] = value;
    }
  }
  if (input.nullable === true) {
    if (typeof out.type === "string" && out.type !== "null") out.type = [out.type, "null"];
    else if (Array.isArray(out.type) && !out.type.includes("null")) {
      out.type = [...out.type, "null"];
    }
  }
  if (out.type === "type_unspecified") delete out.type;
  return out;
}
