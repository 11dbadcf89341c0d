/** One clear sentence from a zod validation problem, naming the field. */
export function describeIssue(
  issue: { path: ReadonlyArray<PropertyKey>; message: string } | undefined,
): string {
  if (!issue) return "Invalid request body.";
  const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`).join("")
    .replace(/^\./, "");
  return path === "" ? issue.message : `Invalid value for '${path}': ${issue.message}`;
}
