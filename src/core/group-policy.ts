/**
 * Decides who may join which group. A pattern is a group name, optionally ending in
 * `*` which matches any suffix (`room:*` matches `room:1`, not `room`); a lone `*`
 * matches every group. Patterns come from the token's `groups` claim and from the
 * configured open groups (Groups.Open) that anyone may join.
 */
export function matchesPattern(pattern: string, group: string): boolean {
  if (pattern.endsWith('*')) return group.startsWith(pattern.slice(0, -1));
  return pattern === group;
}

export class GroupPolicy {
  readonly #open: readonly string[];

  constructor(openPatterns: readonly string[]) {
    this.#open = openPatterns;
  }

  /** True when `group` is open to everyone or listed (by name or pattern) in the user's claims. */
  mayJoin(claimPatterns: readonly string[], group: string): boolean {
    return this.#open.some((p) => matchesPattern(p, group)) || claimPatterns.some((p) => matchesPattern(p, group));
  }
}
