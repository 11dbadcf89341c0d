/**
 * Round-robin over a provider's API keys. State is per process and survives config reloads
 * (it is keyed by provider id); the polling service replaces this with KV-shared rotation.
 */
export class KeyRotator {
  #next = new Map<string, number>();

  /** The next key of the provider, or undefined when it has none. */
  pick(providerId: string, keys: readonly string[]): string | undefined {
    if (keys.length === 0) return undefined;
    const i = this.#next.get(providerId) ?? 0;
    this.#next.set(providerId, (i + 1) % keys.length);
    return keys[i % keys.length];
  }
}
