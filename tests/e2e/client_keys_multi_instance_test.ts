import assert from "node:assert/strict";
import { startGatewayProcess } from "./gateway_process.ts";
import { ask, awayFromMinuteEnd, createKey, keysConfig } from "./client_keys_helpers.ts";

const SYNC_MS = 200;

async function statuses(url: string, key: string, n: number): Promise<number[]> {
  return await Promise.all(
    Array.from({ length: n }, async () => {
      const res = await ask(url, "chat", key);
      await res.body?.cancel();
      return res.status;
    }),
  );
}

/**
 * Two gateway processes on one KV file: a managed key's rpm is shared. A simultaneous burst may
 * overshoot by at most what the other instance admits before it sees the count (the README's
 * bound: never more than instances × limit); once synced, the other instance refuses.
 */
Deno.test("two gateway processes share a managed key's rpm within the documented bound", async () => {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify(keysConfig({ client_keys: { sync_ms: SYNC_MS } })),
  );
  const env = { KV_PATH: `${dir}/kv.sqlite3` };
  const a = await startGatewayProcess({ args: ["--config", config], env });
  const b = await startGatewayProcess({ args: ["--config", config], env });
  try {
    const burst = await createKey(a.url, { rpm: 50 });
    const later = await createKey(a.url, { rpm: 50 });
    const probe = await createKey(a.url, {});
    // B reloads its key index in the background (every second): wait until it knows them.
    let known = false;
    for (let i = 0; i < 60 && !known; i++) {
      known = (await statuses(b.url, probe.secret, 1))[0] === 200;
      if (!known) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(known, "instance B loads keys created on A");

    await awayFromMinuteEnd();
    const [onA, onB] = await Promise.all([
      statuses(a.url, burst.secret, 100),
      statuses(b.url, burst.secret, 100),
    ]);
    const ok = [...onA, ...onB].filter((s) => s === 200).length;
    assert.ok(ok >= 50, `at least the limit is served (${ok})`);
    assert.ok(ok <= 100, `at most instances × limit (${ok})`);
    assert.ok([...onA, ...onB].every((s) => s === 200 || s === 429));

    // Sequential use: what A admitted is seen by B after two sync intervals.
    await awayFromMinuteEnd();
    const first = await statuses(a.url, later.secret, 50);
    assert.equal(first.filter((s) => s === 200).length, 50);
    await new Promise((r) => setTimeout(r, 4 * SYNC_MS + 200));
    const second = await statuses(b.url, later.secret, 10);
    assert.equal(second.filter((s) => s === 200).length, 0, "B refuses what A used up");
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
