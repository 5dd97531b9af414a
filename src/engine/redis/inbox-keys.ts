/**
 * Where RedisInbox keeps a user's keys, so that on a Redis Cluster they share the hash
 * slot of the user's broker channel (`<keyPrefix>u:<user>`): the append script can
 * then SPUBLISH the live frame on that channel atomically with the append (a script
 * may only touch its own slot, and sharded pub/sub channels are hashed like keys).
 *
 * Two layouts, both `<base>:<suffix>`:
 *  - the common one, when the channel contains no brace: base = `{<channel>}`, so the
 *    hash tag is exactly the channel and both hash alike (`{app:u:alice}:e`);
 *  - a channel with `{` or `}` (a user id or key prefix containing braces) cannot be
 *    wrapped that way (Redis takes the first `{...}` as the tag), so base =
 *    `{<tag>}<channel>` where `<tag>` is a short decimal string chosen to hash to the
 *    channel's slot. The channel after the tag keeps keys of different users apart.
 * Suffixes: `e` entries, `t` expiry index, `m` counter hash, `d:<hex key>` a
 * de-duplication record (the key hex-encoded, so that no client-chosen key can make a
 * record's name look like another key kind, e.g. end in `:t`).
 */
import { crc16, keySlot } from './slot.js';

/** The user topic, as src/core/topics.ts names it (`topics.user`); the engine cannot import core. */
export const USER_TOPIC_PREFIX = 'u:';

const SLOTS = 16_384;

/** The hash slot Redis Cluster assigns to a key or a sharded channel (honouring `{hash tags}`). */
export const hashSlot = keySlot;

/** slot -> a decimal string hashing to it; built on first use (about 170,000 checksums, once). */
let tags: string[] | undefined;

function tagFor(slot: number): string {
  if (tags === undefined) {
    const table: string[] = new Array<string>(SLOTS);
    let found = 0;
    for (let i = 0; found < SLOTS; i++) {
      const s = crc16(Buffer.from(String(i))) % SLOTS;
      if (table[s] === undefined) {
        table[s] = String(i);
        found++;
      }
    }
    tags = table;
  }
  return tags[slot]!;
}

/** The broker channel of a topic, as RedisBroker names it. */
export function channelOf(keyPrefix: string, topic: string): string {
  return keyPrefix + topic;
}

/** The base every key of the user's inbox starts with (see the module comment). */
export function inboxKeyBase(keyPrefix: string, userId: string): string {
  const channel = channelOf(keyPrefix, USER_TOPIC_PREFIX + userId);
  if (!/[{}]/.test(channel)) return `{${channel}}`;
  return `{${tagFor(hashSlot(channel))}}${channel}`;
}

/** The key of a de-duplication record. */
export function dedupKey(base: string, key: string): string {
  return `${base}:d:${Buffer.from(key, 'utf8').toString('hex')}`;
}

/** SCAN MATCH patterns finding every user's expiry index (`:t`) under a prefix, one per layout. */
export function expiryIndexPatterns(keyPrefix: string): string[] {
  const channelStart = globEscape(channelOf(keyPrefix, USER_TOPIC_PREFIX));
  return [`{${channelStart}*}:t`, `{*}${channelStart}*:t`];
}

/** Escapes SCAN MATCH glob characters so a key prefix matches literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
