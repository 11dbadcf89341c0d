import { onDenoDeploy } from "./config/platform.ts";

/**
 * Opens the gateway's Deno KV: the platform's default database on Deno Deploy, otherwise a
 * local file (its directory is created), `:memory:` for throwaway runs, or a KV Connect URL.
 */
export async function openGatewayKv(kvPath: string): Promise<Deno.Kv> {
  if (onDenoDeploy()) return await Deno.openKv();
  // A KV Connect URL (a Deploy database reached from outside, e.g. by `deno task rekey`) is
  // remote: no directory to create.
  if (kvPath !== ":memory:" && !/^https?:\/\//.test(kvPath)) {
    const dir = kvPath.includes("/") ? kvPath.slice(0, kvPath.lastIndexOf("/")) : "";
    if (dir !== "") await Deno.mkdir(dir, { recursive: true });
  }
  return await Deno.openKv(kvPath);
}
