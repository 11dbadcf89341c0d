import { onDenoDeploy } from "./config/platform.ts";

/**
 * Opens the gateway's Deno KV: the platform's default database on Deno Deploy, otherwise a
 * local file (its directory is created), or `:memory:` for throwaway runs.
 */
export async function openGatewayKv(kvPath: string): Promise<Deno.Kv> {
  if (onDenoDeploy()) return await Deno.openKv();
  if (kvPath !== ":memory:") {
    const dir = kvPath.includes("/") ? kvPath.slice(0, kvPath.lastIndexOf("/")) : "";
    if (dir !== "") await Deno.mkdir(dir, { recursive: true });
  }
  return await Deno.openKv(kvPath);
}
