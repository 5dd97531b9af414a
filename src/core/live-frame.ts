import type { LivePublish, NewInboxEntry } from '../engine/inbox.js';
import { encodeWireMsgpack } from '../protocol/msgpack.js';
import { topics } from './topics.js';

/** Stands in for the seq until the inbox assigns it: the largest uint32, always encoded as 0xce + 4 bytes. */
const SEQ_PLACEHOLDER = 0xffff_ffff;
/** Stands in for the 12-character epoch until the inbox knows it. */
const EPOCH_PLACEHOLDER = '~~~~~~~~~~~~';
const SEQ_BYTES = Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff]);
const EPOCH_BYTES = Buffer.from(EPOCH_PLACEHOLDER);

/**
 * The live `message` frame of a direct message for an inbox that publishes it itself
 * (Inbox.publishesLive): the MessagePack frame with placeholders where the epoch and
 * seq go, and their offsets, so the inbox fills them in atomically with the append.
 * `epoch` and `seq` are the last fields, so the placeholders are found from the end
 * whatever the content holds. `origin` is not this node's id: the node delivers to
 * its own connections from the broker's copy too, so every node delivers one user's
 * frames in the order the inbox assigned their seqs.
 */
export function liveMessageFrame(entry: NewInboxEntry, nodeId: string): LivePublish {
  const payload = encodeWireMsgpack({
    type: 'message',
    data: { mid: entry.mid, from: entry.from, to: entry.to, content: entry.content, timestamp: entry.timestamp, epoch: EPOCH_PLACEHOLDER, seq: SEQ_PLACEHOLDER },
  });
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const seqAt = bytes.lastIndexOf(SEQ_BYTES) + 1;
  const epochAt = bytes.lastIndexOf(EPOCH_BYTES);
  if (seqAt !== bytes.length - 4 || epochAt < 0 || epochAt > seqAt) {
    throw new Error('live frame: the seq/epoch placeholders are not where the encoder was expected to put them');
  }
  return { topic: topics.user(entry.to), payload, epochAt, seqAt, origin: `inbox@${nodeId}` };
}
