import assert from "node:assert/strict";
import {
  checkDeploy,
  cronProblems,
  deployConfigProblems,
  reachableModules,
} from "../../src/cli/check_deploy.ts";
import { onDenoDeploy } from "../../src/config/platform.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("check:deploy passes on this repository and scans what main.ts loads", async () => {
  assert.deepEqual(await checkDeploy(ROOT), []);
  assert.deepEqual(await deployConfigProblems(ROOT), []);
  const files = await reachableModules(ROOT, "main.ts");
  assert.ok(files.includes("src/server.ts") && files.includes("src/kv.ts"));
  assert.ok(!files.some((f) => f.startsWith("tests/") || f === "src/cli/seed.ts"));
});

Deno.test("check:deploy reports writes, subprocesses, FFI, listeners and misplaced crons", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/src`);
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      [
        'import "./src/a.ts";',
        "const x = await Promise.resolve(1);",
        'Deno.cron("late", "* * * * *", () => {});',
        "function f() {",
        '  Deno.cron("nested", "* * * * *", () => {});',
        "}",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${dir}/src/a.ts`,
      [
        "// Deno.writeTextFile in a comment is fine",
        'await Deno.writeTextFile("x", "y");',
        'new Deno.Command("ls");',
        'Deno.dlopen("lib.so", {});',
        "Deno.listen({ port: 1 });",
        'await Deno.openKv("./kv.sqlite3");',
        'import "./b.ts";',
      ].join("\n"),
    );
    await Deno.writeTextFile(`${dir}/src/b.ts`, 'import { readFile } from "node:fs/promises";');
    await Deno.writeTextFile(`${dir}/src/unused.ts`, 'Deno.run({ cmd: ["ls"] });');
    const problems = await checkDeploy(dir);
    const text = problems.join("\n");
    assert.match(text, /src\/a\.ts:2: writes files/);
    assert.match(text, /src\/a\.ts:3: Deno\.Command/);
    assert.match(text, /src\/a\.ts:4: Deno\.dlopen/);
    assert.match(text, /src\/a\.ts:5: Deno\.listen/);
    assert.match(text, /src\/a\.ts:6: Deno\.openKv\(path\)/);
    assert.match(text, /src\/b\.ts:1: writes files/);
    assert.match(text, /main\.ts:3: .*before the first top-level await/);
    assert.match(text, /main\.ts:5: .*top-level statement/);
    assert.ok(!text.includes("a.ts:1:"), "comments are not uses");
    assert.ok(!text.includes("unused.ts"), "unreachable modules are not scanned");
    assert.match((await deployConfigProblems(dir))[0], /deno\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cronProblems: a missing cron is reported; a top-level one before awaits is fine", () => {
  assert.deepEqual(cronProblems("const a = 1;", "main.ts"), [
    "main.ts: no Deno.cron registered (the account refresh job)",
  ]);
  assert.deepEqual(
    cronProblems('Deno.cron("a", "0 * * * *", async () => {\n  await job();\n});\nawait x;', "m"),
    [],
  );
});

Deno.test("onDenoDeploy: the current platform's DENO_DEPLOY and Classic's DENO_DEPLOYMENT_ID", () => {
  assert.equal(onDenoDeploy({}), false);
  assert.equal(onDenoDeploy({ DENO_DEPLOY: "1" }), true);
  assert.equal(onDenoDeploy({ DENO_DEPLOY: "true" }), true);
  assert.equal(onDenoDeploy({ DENO_DEPLOY: "0" }), false);
  assert.equal(onDenoDeploy({ DENO_DEPLOYMENT_ID: "abc" }), true);
});
