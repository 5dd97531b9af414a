import type { GroupRule, GroupsConfig, HistoryLimits } from '../config.js';
import type { Principal } from './auth.js';

/**
 * What each group allows, from config `Groups.Rules` (ordered, first match wins) and
 * `Groups.Open`. A pattern is a group name, optionally ending in `*` which matches
 * any suffix (`room:*` matches `room:1`, not `room`); a lone `*` matches every group.
 */
export function matchesPattern(pattern: string, group: string): boolean {
  if (pattern.endsWith('*')) return group.startsWith(pattern.slice(0, -1));
  return pattern === group;
}

/**
 * The rule of a group that no configured rule matches: joining needs the token's
 * `groups` claim, members publish, presence is visible to members, no history: how
 * every group behaved before rules existed.
 */
export const DEFAULT_RULE: GroupRule = Object.freeze({
  match: '*', join: 'claim', publish: 'members', presence: 'members', maxMembers: undefined, history: undefined,
});

/** Rule lookups remembered per group name; cleared wholesale when full (names are client-chosen). */
const CACHE_LIMIT = 10_000;

/**
 * The rules engine for groups. `Groups.Rules` come first, in order; each `Groups.Open`
 * pattern then acts as a rule `{Match: <pattern>, Join: open}` with the other keys at
 * their defaults; a group matched by nothing gets DEFAULT_RULE.
 */
export class GroupPolicy {
  readonly #rules: readonly GroupRule[];
  readonly #importantHistory: HistoryLimits;
  readonly #cache = new Map<string, GroupRule>();

  constructor(groups: Pick<GroupsConfig, 'open' | 'rules' | 'importantHistory'>) {
    this.#rules = [
      ...groups.rules,
      ...groups.open.map((match): GroupRule => ({ ...DEFAULT_RULE, match, join: 'open' })),
    ];
    this.#importantHistory = groups.importantHistory;
  }

  /** The rule that decides for `group`: the first that matches, else DEFAULT_RULE. */
  rule(group: string): GroupRule {
    let rule = this.#cache.get(group);
    if (rule === undefined) {
      rule = this.#rules.find((r) => matchesPattern(r.match, group)) ?? DEFAULT_RULE;
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(group, rule);
    }
    return rule;
  }

  /** `Join: open`, or the user's `groups` claim lists the group (by name or pattern). */
  mayJoin(principal: Pick<Principal, 'groups'>, group: string): boolean {
    return this.rule(group).join === 'open' || principal.groups.some((p) => matchesPattern(p, group));
  }

  /**
   * Whether a connection may publish to `group`: `members` needs the connection to
   * have joined; `claim` needs the user's `publish` claim to list the group (joining
   * is then not required, so a host can publish without receiving); `none` refuses
   * every client.
   */
  mayPublish(principal: Pick<Principal, 'publish'>, group: string, joined: boolean): boolean {
    switch (this.rule(group).publish) {
      case 'members': return joined;
      case 'claim': return principal.publish.some((p) => matchesPattern(p, group));
      case 'none': return false;
    }
  }

  /** Whether members may see who else is in the group (presence queries, join/leave events). */
  presenceVisible(group: string): boolean {
    return this.rule(group).presence === 'members';
  }

  /**
   * The history a message to `group` is kept under: the rule's History, else
   * Groups.ImportantHistory for an important message, else none (undefined).
   */
  historyFor(group: string, important: boolean): HistoryLimits | undefined {
    return this.rule(group).history ?? (important ? this.#importantHistory : undefined);
  }
}
