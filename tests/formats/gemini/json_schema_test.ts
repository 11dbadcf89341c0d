import assert from "node:assert/strict";
import {
  geminiSchemaToJsonSchema,
  toGeminiJsonSchema,
  toGeminiParameters,
  toGeminiSchema,
} from "../../../src/formats/gemini/json_schema.ts";
import type { JsonObject } from "../../../src/ir/types.ts";
import { RequestError } from "../../../src/errors.ts";

/** Every keyword left anywhere in a cleaned schema must be one Google's Schema message knows. */
const ALLOWED = new Set([
  "type",
  "format",
  "title",
  "description",
  "nullable",
  "enum",
  "maxItems",
  "minItems",
  "properties",
  "required",
  "minProperties",
  "maxProperties",
  "minLength",
  "maxLength",
  "pattern",
  "example",
  "anyOf",
  "propertyOrdering",
  "default",
  "items",
  "minimum",
  "maximum",
]);

function assertOnlyAllowed(schema: unknown, path = "$"): void {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return;
  for (const [k, v] of Object.entries(schema)) {
    assert.ok(ALLOWED.has(k), `unsupported keyword ${k} at ${path}`);
    if (k === "properties") {
      for (const [name, sub] of Object.entries(v as object)) {
        assertOnlyAllowed(sub, `${path}.${name}`);
      }
    } else if (k === "items") assertOnlyAllowed(v, `${path}[]`);
    else if (k === "anyOf") {
      (v as unknown[]).forEach((s, i) => assertOnlyAllowed(s, `${path}|${i}`));
    }
  }
}

Deno.test("cleaning: unsupported keywords go, supported ones stay, types upper-case", () => {
  const out = toGeminiSchema({
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "urn:x",
    type: "object",
    title: "Args",
    description: "The arguments",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 64, pattern: "^[a-z]+$", default: "x" },
      when: { type: "string", format: "date-time" },
      url: { type: "string", format: "uri" },
      ratio: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1, multipleOf: 0.1 },
      count: { type: "integer", minimum: 0, maximum: 10, format: "int32" },
      list: {
        type: "array",
        items: { type: "boolean" },
        minItems: 1,
        maxItems: 3,
        uniqueItems: true,
      },
      dict: {
        type: "object",
        additionalProperties: { type: "string" },
        propertyNames: { pattern: "^a" },
      },
      examples: { type: "string", examples: ["a"], deprecated: true, readOnly: true },
    },
    required: ["name", "ghost"],
    additionalProperties: false,
    unevaluatedProperties: false,
  });
  assertOnlyAllowed(out);
  assert.deepEqual(out, {
    type: "OBJECT",
    title: "Args",
    description: "The arguments",
    properties: {
      name: { type: "STRING", minLength: 1, maxLength: 64, pattern: "^[a-z]+$", default: "x" },
      when: { type: "STRING", format: "date-time" },
      url: { type: "STRING" },
      ratio: { type: "NUMBER" },
      count: { type: "INTEGER", minimum: 0, maximum: 10, format: "int32" },
      list: { type: "ARRAY", items: { type: "BOOLEAN" }, minItems: 1, maxItems: 3 },
      dict: { type: "OBJECT" },
      examples: { type: "STRING" },
    },
    required: ["name"],
  });
});

Deno.test("cleaning: $ref/$defs and definitions are inlined; recursion is cut", () => {
  const out = toGeminiSchema({
    type: "object",
    properties: {
      a: { $ref: "#/$defs/Point", description: "where" },
      b: { $ref: "#/definitions/Tag" },
      tree: { $ref: "#/$defs/Node" },
      missing: { $ref: "#/$defs/Nope" },
    },
    $defs: {
      Point: {
        type: "object",
        properties: { x: { type: "number" }, y: { type: "number" } },
        required: ["x", "y"],
      },
      Node: {
        type: "object",
        description: "a node",
        properties: {
          value: { type: "string" },
          children: { type: "array", items: { $ref: "#/$defs/Node" } },
        },
      },
    },
    definitions: { Tag: { type: "string", enum: ["a", "b"] } },
  });
  assertOnlyAllowed(out);
  const props = out.properties as Record<string, JsonObject>;
  assert.deepEqual(props.a, {
    type: "OBJECT",
    description: "where",
    properties: { x: { type: "NUMBER" }, y: { type: "NUMBER" } },
    required: ["x", "y"],
  });
  assert.deepEqual(props.b, { type: "STRING", enum: ["a", "b"] });
  const tree = props.tree as { properties: { children: { items: JsonObject } } };
  assert.deepEqual(tree.properties.children.items, { type: "OBJECT", description: "a node" });
  assert.deepEqual(props.missing, { type: "OBJECT" });
});

Deno.test("cleaning: nullability, unions, const, allOf, non-string enums", () => {
  const out = toGeminiSchema({
    type: "object",
    properties: {
      a: { type: ["string", "null"] },
      b: { anyOf: [{ type: "integer" }, { type: "null" }], description: "maybe" },
      c: { oneOf: [{ type: "string" }, { type: "number" }] },
      d: { const: "fixed" },
      e: { type: "integer", enum: [1, 2, 3] },
      f: { enum: ["x", null] },
      g: {
        allOf: [{ type: "object", properties: { p: { type: "string" } }, required: ["p"] }, {
          properties: { q: { type: "integer" } },
        }],
      },
      h: { type: ["string", "integer"] },
      i: { type: "array" },
      j: true,
    },
  } as unknown as JsonObject);
  assertOnlyAllowed(out);
  assert.deepEqual(out.properties, {
    a: { type: "STRING", nullable: true },
    b: { description: "maybe", type: "INTEGER", nullable: true },
    c: { anyOf: [{ type: "STRING" }, { type: "NUMBER" }] },
    d: { enum: ["fixed"], type: "STRING" },
    e: { type: "INTEGER" },
    f: { enum: ["x"], type: "STRING", nullable: true },
    g: {
      type: "OBJECT",
      properties: { p: { type: "STRING" }, q: { type: "INTEGER" } },
      required: ["p"],
    },
    h: { anyOf: [{ type: "STRING" }, { type: "INTEGER" }] },
    i: { type: "ARRAY", items: { type: "STRING" } },
    j: {},
  });
});

Deno.test("parameters: a function without arguments sends no parameters at all", () => {
  assert.equal(toGeminiParameters({ type: "object", properties: {} }), undefined);
  assert.equal(toGeminiParameters({ type: "object", additionalProperties: false }), undefined);
  assert.deepEqual(toGeminiParameters({ type: "object", properties: { a: { type: "string" } } }), {
    type: "OBJECT",
    properties: { a: { type: "STRING" } },
  });
});

Deno.test("parametersJsonSchema keeps JSON Schema as is, minus $schema", () => {
  const schema = {
    $schema: "x",
    type: "object",
    properties: { a: { $ref: "#/$defs/A" } },
    $defs: { A: { type: "string" } },
  };
  assert.deepEqual(toGeminiJsonSchema(schema), {
    type: "object",
    properties: { a: { $ref: "#/$defs/A" } },
    $defs: { A: { type: "string" } },
  });
});

Deno.test("Gemini-side schemas → JSON Schema: lower-case types, nullable folded, property names untouched", () => {
  const out = geminiSchemaToJsonSchema({
    type: "OBJECT",
    properties: {
      type: { type: "STRING", enum: ["A", "B"], format: "enum" },
      nullable: { type: "INTEGER", nullable: true },
      items: {
        type: "ARRAY",
        items: { type: "OBJECT", properties: { OBJECT: { type: "BOOLEAN" } } },
      },
      union: { anyOf: [{ type: "STRING" }, { type: "NUMBER" }] },
    },
    propertyOrdering: ["type", "nullable", "items", "union"],
    required: ["type"],
  });
  assert.deepEqual(out, {
    type: "object",
    properties: {
      type: { type: "string", enum: ["A", "B"] },
      nullable: { type: ["integer", "null"] },
      items: {
        type: "array",
        items: { type: "object", properties: { OBJECT: { type: "boolean" } } },
      },
      union: { anyOf: [{ type: "string" }, { type: "number" }] },
    },
    required: ["type"],
  });
  assert.deepEqual(geminiSchemaToJsonSchema({ type: "object", properties: {} }), {
    type: "object",
    properties: {},
  });
});

Deno.test("schemas nested thousands of levels deep are a 400, not a stack overflow", () => {
  let schema: JsonObject = { type: "string" };
  for (let i = 0; i < 5_000; i++) schema = { type: "object", properties: { a: schema } };
  for (const convert of [toGeminiSchema, geminiSchemaToJsonSchema]) {
    assert.throws(() => convert(schema), (err: unknown) => {
      assert.ok(err instanceof RequestError);
      assert.equal(err.status, 400);
      assert.equal(err.code, "schema_too_deep");
      return true;
    });
  }
  // A realistic depth still converts.
  let ok: JsonObject = { type: "string" };
  for (let i = 0; i < 40; i++) ok = { type: "object", properties: { a: ok } };
  assert.equal(toGeminiSchema(ok).type, "OBJECT");
  assert.equal(geminiSchemaToJsonSchema(ok).type, "object");
});
