import type { CredentialDriver } from "../types.ts";
import { bedrockDriver } from "../../upstreams/bedrock/driver.ts";
import { azureOpenAIDriver } from "../../upstreams/azure_openai/driver.ts";
import { geminiCliDriver } from "./gemini_cli.ts";
import { qwenDriver } from "./qwen.ts";
import { vertexDriver } from "./vertex.ts";

/** Credential drivers by provider type: the types whose accounts live in KV. */
const DRIVERS: Readonly<Record<string, CredentialDriver>> = {
  "gemini-cli": geminiCliDriver,
  qwen: qwenDriver,
  vertex: vertexDriver,
  bedrock: bedrockDriver,
  "azure-openai": azureOpenAIDriver,
};

export function credentialDriverFor(type: string): CredentialDriver | undefined {
  return DRIVERS[type];
}
