/**
 * The journal's framing, with no I/O: each record on disk is
 *
 *   u32 LE payload length | u32 LE CRC-32 (IEEE) of the payload | payload
 *
 * so a reader finds where the last complete, intact record ends. A crash can leave a
 * torn record at the end of the file being written (a short header, a short payload,
 * or bytes that never reached the disk); everything before it is intact.
 */

/** Bytes of the header before each payload. */
export const FRAME_HEADER_BYTES = 8;

/** Payloads larger than this are refused on write and treated as damage on read. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, the one of zlib and PNG) of bytes [start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** The payload framed for the journal: header and payload in one new buffer. */
export function frame(payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD_BYTES) throw new RangeError(`journal: a record of ${payload.length} bytes is over ${MAX_PAYLOAD_BYTES}`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export interface Scan {
  /** Each intact record's payload, in file order (views into the scanned buffer). */
  payloads: Buffer[];
  /** Offset just past the last intact record: where the next record belongs. */
  end: number;
  /** Why scanning stopped before the end of the buffer; undefined when it reached it. */
  damage?: string;
}

/** Splits `bytes` into payloads, stopping at the first record that is short or fails its CRC. */
export function scan(bytes: Buffer): Scan {
  const payloads: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < FRAME_HEADER_BYTES) return { payloads, end: at, damage: `a short header at ${at}` };
    const length = bytes.readUInt32LE(at);
    // Never written (every payload is a non-empty msgpack array): zeros past the end of
    // what reached the disk must not read as records.
    if (length === 0 || length > MAX_PAYLOAD_BYTES) return { payloads, end: at, damage: `an impossible length ${length} at ${at}` };
    const start = at + FRAME_HEADER_BYTES;
    if (bytes.length - start < length) return { payloads, end: at, damage: `a short record at ${at}` };
    if (crc32(bytes, start, start + length) !== bytes.readUInt32LE(at + 4)) return { payloads, end: at, damage: `a CRC mismatch at ${at}` };
    payloads.push(bytes.subarray(start, start + length));
    at = start + length;
  }
  return { payloads, end: at };
}
