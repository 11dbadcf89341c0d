import type { CredentialDriver } from "../types.ts";

/** Credential drivers by provider type: the types whose accounts live in KV. */
const DRIVERS: Readonly<Record<string, CredentialDriver>> = {};

export function credentialDriverFor(type: string): CredentialDriver | undefined {
  return DRIVERS[type];
}
