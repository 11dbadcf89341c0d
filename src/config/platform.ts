/**
 * Whether the process runs on Deno Deploy. The current platform (console.deno.com) sets
 * `DENO_DEPLOY` (plus `DENO_DEPLOY_APP_ID`, `DENO_DEPLOY_BUILD_ID`, `DENO_TIMELINE`, ...);
 * Deploy Classic set `DENO_DEPLOYMENT_ID`. Either means: default KV, no files written.
 */
export function onDenoDeploy(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): boolean {
  const flag = (env.DENO_DEPLOY ?? "").trim().toLowerCase();
  return (flag !== "" && flag !== "0" && flag !== "false") ||
    (env.DENO_DEPLOYMENT_ID ?? "").trim() !== "";
}
