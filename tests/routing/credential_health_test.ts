import assert from "node:assert/strict";
import { Cooldowns } from "../../src/accounts/cooldowns.ts";
import { validateConfig } from "../../src/config/load.ts";
import { CredentialHealth } from "../../src/routing/credential_health.ts";
import type { FailureVerdict } from "../../src/routing/failure.ts";

const policy = validateConfig({}).failure_policy;
const server: FailureVerdict = { retry: true, kind: "server", cooldownSeconds: 0 };

async function withHealth(
  fn: (h: CredentialHealth, c: Cooldowns, clock: { now: number }) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const clock = { now: 1_000_000 };
  const cooldowns = new Cooldowns(kv, () => clock.now);
  try {
    await fn(new CredentialHealth(cooldowns, () => clock.now), cooldowns, clock);
  } finally {
    kv.close();
  }
}

Deno.test("server failures eject only after consecutive_failures in a row; a success resets the streak", async () => {
  await withHealth(async (h, c) => {
    for (let i = 0; i < 2; i++) {
      assert.equal((await h.failed("p", "k1", server, 500, 4, policy)).ejected, false);
    }
    h.succeeded("p", "k1");
    for (let i = 0; i < 2; i++) {
      assert.equal((await h.failed("p", "k1", server, 500, 4, policy)).ejected, false);
    }
    const third = await h.failed("p", "k1", server, 500, 4, policy);
    assert.equal(third.ejected, true);
    const bench = (await c.active("p")).get("k1");
    assert.equal(bench?.reason, "server");
    assert.equal(bench?.until, 1_000_000 + 30_000, "base_ejection_seconds");
  });
});

Deno.test("ejection time grows with each ejection, is capped, and the count decays after successes", async () => {
  await withHealth(async (h, c, clock) => {
    const eject = async () => {
      for (let i = 0; i < 3; i++) await h.failed("p", "k1", server, 503, 1, policy);
      return (await c.active("p")).get("k1")!.until - clock.now;
    };
    assert.equal(await eject(), 30_000);
    clock.now += 31_000;
    assert.equal(await eject(), 60_000);
    clock.now += 61_000;
    assert.equal(await eject(), 90_000);
    for (let i = 0; i < 20; i++) {
      clock.now += 301_000;
      await eject();
    }
    clock.now += 301_000;
    assert.equal(await eject(), 300_000, "capped at max_ejection_seconds");
    clock.now += 301_000;
    for (let i = 0; i < 30; i++) h.succeeded("p", "k1");
    assert.equal(await eject(), 30_000, "decayed back to the base after successes");
  });
});

Deno.test("at most max_ejection_percent of a provider's credentials are ejected (at least one)", async () => {
  await withHealth(async (h) => {
    const out = [];
    for (const id of ["a", "b", "c", "d"]) {
      let last;
      for (let i = 0; i < 3; i++) last = await h.failed("p", id, server, 500, 4, policy);
      out.push(last!.ejected);
    }
    assert.deepEqual(out, [true, true, false, false], "50 % of 4");
    let single;
    for (let i = 0; i < 3; i++) single = await h.failed("q", "only", server, 500, 1, policy);
    assert.equal(single!.ejected, true, "a provider's only credential can still be ejected");
    assert.equal(h.ejectionsTotal, 3);
  });
});

Deno.test("client failures bench nothing; rate limits and auth failures bench at once for their time", async () => {
  await withHealth(async (h, c) => {
    const client = await h.failed(
      "p",
      "k",
      {
        retry: false,
        kind: "client",
        cooldownSeconds: 0,
      },
      400,
      2,
      policy,
    );
    assert.deepEqual(client, { benched: false, ejected: false });
    const limited = await h.failed(
      "p",
      "k",
      {
        retry: true,
        kind: "rate_limit",
        cooldownSeconds: 7,
      },
      429,
      2,
      policy,
    );
    assert.equal(limited.benched, true);
    assert.equal(limited.ejected, false);
    assert.equal((await c.active("p")).get("k")?.until, 1_000_000 + 7000);
  });
});

Deno.test("the end a failure reports is the stored cooldown's, even as the clock moves and a longer bench runs", async () => {
  const kv = await Deno.openKv(":memory:");
  // A clock that moves a millisecond at every reading: two computations of an end differ.
  let t = 2_000_000;
  const tick = () => t++;
  const cooldowns = new Cooldowns(kv, tick);
  const health = new CredentialHealth(cooldowns, tick);
  try {
    const strict = { ...policy, consecutive_failures: 1 };
    const ejected = await health.failed("p", "k1", server, 500, 4, strict);
    assert.equal(ejected.until, (await cooldowns.active("p")).get("k1")?.until);
    const limited: FailureVerdict = { retry: true, kind: "rate_limit", cooldownSeconds: 5 };
    const benched = await health.failed("p", "k2", limited, 429, 4, strict);
    assert.equal(benched.until, (await cooldowns.active("p")).get("k2")?.until);
    // A shorter bench leaves the longer ejection in force: that end is the one reported.
    const shorter = await health.failed(
      "p",
      "k1",
      { ...limited, cooldownSeconds: 1 },
      429,
      4,
      strict,
    );
    assert.equal(shorter.until, ejected.until);
  } finally {
    kv.close();
  }
});
