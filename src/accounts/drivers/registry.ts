import type { CredentialDriver } from "../types.ts";
import { geminiCliDriver } from "./gemini_cli.ts";

/** Credential drivers by provider type: the types whose accounts live in KV. */
const DRIVERS: Readonly<Record<string, CredentialDriver>> = {
  "gemini-cli": geminiCliDriver,
};

export function credentialDriverFor(type: string): CredentialDriver | undefined {
  return DRIVERS[type];
}
