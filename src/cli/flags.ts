/**
 * Splits a command line into `--name value` / `--name=value` flags and positional words;
 * returns the problem as a string when a flag has no value.
 */
export function splitFlags(
  args: string[],
): { flags: Map<string, string>; positional: string[] } | string {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith("--")) {
      const [name, inline] = a.slice(2).split("=", 2);
      const value = inline ?? args[++i];
      if (value === undefined) return `--${name} needs a value`;
      flags.set(name, value);
    } else {
      positional.push(a);
    }
  }
  return { flags, positional };
}
