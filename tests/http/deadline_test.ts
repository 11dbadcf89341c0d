import assert from "node:assert/strict";
import { after, cancel, rearm, withinDeadline } from "../../src/http/deadline.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("after: fires once its time has passed (within a sweep), never before", async () => {
  const t0 = Date.now();
  let firedAt = 0;
  after(60, () => firedAt = Date.now());
  await sleep(30);
  assert.equal(firedAt, 0);
  await sleep(200);
  assert.ok(firedAt - t0 >= 60, `fired after ${firedAt - t0} ms`);
});

Deno.test("cancel: a cancelled deadline never fires, even re-armed, and lets go of its action", async () => {
  let fired = 0;
  const action = () => fired++;
  const d = after(30, action);
  cancel(d);
  cancel(undefined);
  // Nothing keeps the action (and what its closure holds) alive once cancelled.
  assert.notEqual(d.fire, action);
  await sleep(120);
  assert.equal(fired, 0);
  rearm(d, 20);
  await sleep(120);
  assert.equal(fired, 0);
});

Deno.test("rearm moves a pending deadline, and runs a fired one again", async () => {
  let fired = 0;
  const d = after(1000, () => fired++);
  rearm(d, 20);
  await sleep(120);
  assert.equal(fired, 1);
  rearm(d, 20);
  await sleep(120);
  assert.equal(fired, 2);
  cancel(d);
});

Deno.test("withinDeadline: the promise's value, or the late error; a late loser is observed", async () => {
  assert.equal(await withinDeadline(Promise.resolve(7), 1000, () => new Error("late")), 7);
  await assert.rejects(
    withinDeadline(
      new Promise((_, reject) => setTimeout(() => reject(new Error("x")), 300)),
      20,
      () => new Error("late"),
    ),
    /late/,
  );
  await sleep(350); // the loser rejected after the race: no unhandled rejection
});
