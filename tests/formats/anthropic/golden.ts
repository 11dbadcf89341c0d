import assert from "node:assert/strict";

const FIXTURES = new URL("../../fixtures/anthropic/", import.meta.url);

/** Reads a fixture file as text. */
export function fixtureText(name: string): Promise<string> {
  return Deno.readTextFile(new URL(name, FIXTURES));
}

/** Reads a JSON fixture. */
export async function fixtureJson(name: string): Promise<unknown> {
  return JSON.parse(await fixtureText(name));
}

/**
 * Compares `actual` (as JSON, so undefined fields vanish) with a golden file.
 * `UPDATE_GOLDEN=1 deno test -A tests/formats/anthropic` rewrites the files instead; review the diff.
 */
export async function assertGolden(name: string, actual: unknown): Promise<void> {
  const value: unknown = JSON.parse(JSON.stringify(actual));
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(new URL(name, FIXTURES), JSON.stringify(value, null, 2) + "\n");
    return;
  }
  assert.deepEqual(value, await fixtureJson(name));
}
