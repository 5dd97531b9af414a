import { topics } from './topics.js';

/**
 * Figures over a node's local topic interest (logical topic -> local subscriber count),
 * for the stats endpoints and the admin page. Each walks every local topic: never per frame.
 */

/** Groups with at least one member connection on this node. */
export function localGroupCount(interest: Iterable<[string, number]>): number {
  const prefix = topics.group('');
  let n = 0;
  for (const [logical] of interest) if (logical.startsWith(prefix)) n += 1;
  return n;
}

/** The `limit` groups with the most member connections on this node, largest first (ties by name). */
export function largestGroups(interest: Iterable<[string, number]>, limit: number): { group: string; connections: number }[] {
  const groups: { group: string; connections: number }[] = [];
  const prefix = topics.group('');
  for (const [logical, connections] of interest) {
    if (logical.startsWith(prefix)) groups.push({ group: logical.slice(prefix.length), connections });
  }
  groups.sort((a, b) => b.connections - a.connections || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  return groups.slice(0, limit);
}

/** Presence watch subscriptions held by this node's connections (one per connection and watched user). */
export function watchCount(interest: Iterable<[string, number]>): number {
  const prefix = topics.presence('');
  let n = 0;
  for (const [logical, count] of interest) if (logical.startsWith(prefix)) n += count;
  return n;
}
