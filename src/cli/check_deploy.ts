/**
 * `deno task check:deploy`: static checks that the code main.ts loads can run on Deno Deploy.
 * Deploy has no writable disk, no subprocesses, no FFI and no raw listeners, and wants
 * `Deno.cron` registered at the top level of the entry module before anything is awaited.
 * Only modules reachable from main.ts are scanned: CLI tools and tests run locally.
 */

/** Calls Deploy does not offer at all. */
const FORBIDDEN: { pattern: RegExp; why: string }[] = [
  { pattern: /\bDeno\.run\s*\(/, why: "Deno.run (subprocess)" },
  { pattern: /\bnew\s+Deno\.Command\b/, why: "Deno.Command (subprocess)" },
  { pattern: /\bDeno\.dlopen\s*\(/, why: "Deno.dlopen (FFI)" },
  { pattern: /\bDeno\.listen(Tls|Datagram)?\s*\(/, why: "Deno.listen (use Deno.serve)" },
  { pattern: /from\s+["']node:child_process["']/, why: "node:child_process" },
  { pattern: /\bDeno\.(chmod|chown|kill|symlink|link)(Sync)?\s*\(/, why: "file/process API" },
];

/** Calls that write to disk: allowed only in the files below, behind a Deploy guard. */
const WRITES =
  /\bDeno\.(writeFile|writeTextFile|mkdir|remove|rename|create|truncate|makeTempDir|makeTempFile|copyFile|openSync|open)(Sync)?\s*\(|from\s+["']node:fs(\/promises)?["']/;

/** File → the guard text that must appear in it for its writes to be allowed. */
const GUARDED_WRITERS: Record<string, string> = {
  // The local KV file's directory; skipped when onDenoDeploy() opens the platform's KV.
  "src/kv.ts": "onDenoDeploy()",
};

/** Every problem found, as `path:line: message`; empty when the code fits Deploy. */
export async function checkDeploy(root: string, entry = "main.ts"): Promise<string[]> {
  const problems: string[] = [];
  const files = await reachableModules(root, entry);
  for (const file of files) {
    const text = stripComments(await Deno.readTextFile(`${root}/${file}`));
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      const at = `${file}:${i + 1}`;
      for (const f of FORBIDDEN) {
        if (f.pattern.test(line)) problems.push(`${at}: ${f.why} is not available on Deno Deploy`);
      }
      if (WRITES.test(line)) {
        const guard = GUARDED_WRITERS[file];
        if (!guard || !text.includes(guard)) {
          problems.push(`${at}: writes files; Deploy has no writable disk (store it in KV)`);
        }
      }
      if (/\bDeno\.openKv\s*\(\s*[^)\s]/.test(line) && !text.includes("onDenoDeploy()")) {
        problems.push(`${at}: Deno.openKv(path) without a Deploy guard (Deploy: Deno.openKv())`);
      }
      if (/\bDeno\.cron\s*\(/.test(line) && file !== entry) {
        problems.push(`${at}: Deno.cron outside ${entry}; Deploy needs it at the top level`);
      }
    });
  }
  problems.push(...cronProblems(stripComments(await Deno.readTextFile(`${root}/${entry}`)), entry));
  return problems;
}

/** Deno.cron in the entry module: at column 0 (top level) and before the first top-level await. */
export function cronProblems(text: string, entry: string): string[] {
  const problems: string[] = [];
  let awaited = false;
  let crons = 0;
  text.split("\n").forEach((line, i) => {
    const at = `${entry}:${i + 1}`;
    if (/\bDeno\.cron\s*\(/.test(line)) {
      crons++;
      if (!/^Deno\.cron\s*\(/.test(line)) {
        problems.push(`${at}: Deno.cron must be a top-level statement`);
      } else if (awaited) {
        problems.push(`${at}: Deno.cron must be registered before the first top-level await`);
      }
    }
    if (/^\S.*\bawait\b/.test(line) || /^\s{0,2}\S*\s*=\s*await\b/.test(line)) awaited = true;
  });
  if (crons === 0) problems.push(`${entry}: no Deno.cron registered (the account refresh job)`);
  return problems;
}

/** Local modules reachable from `entry` through static and dynamic relative imports. */
export async function reachableModules(root: string, entry: string): Promise<string[]> {
  const seen = new Set<string>();
  const queue = [normalize(entry)];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    if (seen.has(file)) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(`${root}/${file}`);
    } catch {
      continue;
    }
    seen.add(file);
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      queue.push(normalize(dir === "" ? m[1] : `${dir}/${m[1]}`));
    }
  }
  return [...seen].sort();
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

/** Removes comments (keeping line numbers) so prose about an API is not a use of it. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

if (import.meta.main) {
  const root = Deno.args[0] ?? ".";
  const problems = await checkDeploy(root);
  const deploy = await deployConfigProblems(root);
  const all = [...problems, ...deploy];
  for (const p of all) console.error(`check:deploy: ${p}`);
  if (all.length > 0) Deno.exit(1);
  console.log(
    `check:deploy: ok (${
      (await reachableModules(root, "main.ts")).length
    } modules reachable from main.ts)`,
  );
}

/** The `deploy` key of deno.json names the app and runs main.ts. */
export async function deployConfigProblems(root: string): Promise<string[]> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  } catch {
    return ["deno.json: cannot be read as JSON"];
  }
  const deploy = (json as { deploy?: Record<string, unknown> }).deploy;
  if (typeof deploy !== "object" || deploy === null) return ['deno.json: no "deploy" key'];
  const problems: string[] = [];
  if (typeof deploy.app !== "string") problems.push("deno.json: deploy.app is missing");
  const runtime = deploy.runtime as Record<string, unknown> | undefined;
  if (runtime?.entrypoint !== "main.ts") {
    problems.push("deno.json: deploy.runtime.entrypoint must be main.ts");
  }
  return problems;
}
