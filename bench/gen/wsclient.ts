/**
 * A light WebSocket client on a raw `net` socket, for load generation. It speaks just
 * enough of RFC 6455 for the bench: the upgrade handshake, masked client frames and
 * unmasked server frames (with fragmentation, ping/pong and close), and it never copies
 * a whole frame except across read boundaries.
 *
 * Why not the `ws` package: a `ws` client spends several microseconds of CPU per
 * received message, which at hundreds of thousands of deliveries per second makes the
 * generator, not the server, the bottleneck. Here every socket of a process reads into
 * one shared buffer (`onread`), and the sink sees each frame as (buffer, start, end):
 * no allocation per message. Frames are masked with the all-zero key, which RFC 6455
 * permits (the key is merely required to be present) and which makes masking free.
 */
import { connect, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

export const OP_TEXT = 1;
export const OP_BINARY = 2;
const OP_CONT = 0;
const OP_CLOSE = 8;
const OP_PING = 9;
const OP_PONG = 10;

/** Receives what the connections of one process read. Calls are synchronous; the buffer is only valid during the call. */
export interface FrameSink {
  onFrame(conn: WsConn, opcode: number, buf: Buffer, start: number, end: number): void;
  /** The connection ended (after open, or during the handshake: then `opened` is false). */
  onClose(conn: WsConn, reason: string): void;
}

export interface WsTarget {
  host: string;
  port: number;
  /** Path and query of the upgrade request. */
  path: string;
  /** Bind the client side to this loopback address (spreads ephemeral ports). */
  localAddress?: string;
  /** Offered as Sec-WebSocket-Protocol when set. */
  protocol?: string;
}

const SHARED = Buffer.allocUnsafe(256 * 1024);
const HANDSHAKE_END = Buffer.from('\r\n\r\n');
const MAX_HANDSHAKE = 16 * 1024;
const MAX_HEADER = 14;

const enum State {
  Connecting,
  Handshake,
  Open,
  Closed,
}

export class WsConn {
  /** Free slots for the owner (the worker keeps its per-connection counters here). */
  idx = -1;
  seq = 0;
  ackedSeq = 0;
  /** Where the last latency stamp was found in a frame, to check there first next time. */
  hint = -1;
  opened = false;

  private socket: Socket;
  private state = State.Connecting;
  private key = randomBytes(16).toString('base64');
  private hs: Buffer | null = null;
  /** A frame cut by a read boundary: its bytes so far. */
  private pend: Buffer | null = null;
  private pendLen = 0;
  /** Payload of a fragmented message being reassembled. */
  private frag: Buffer[] | null = null;
  private fragOp = 0;
  private openResolve: (() => void) | null = null;
  private openReject: ((err: Error) => void) | null = null;

  constructor(private readonly target: WsTarget, private readonly sink: FrameSink) {
    this.socket = connect({
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      noDelay: true,
      onread: { buffer: SHARED, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
    });
    this.socket.on('connect', () => this.sendHandshake());
    this.socket.on('error', (err) => this.fail(`socket error: ${err.message}`));
    this.socket.on('close', () => this.fail('socket closed'));
  }

  /** Resolves when the server answered 101; rejects with the server's status or the socket error. */
  opening(timeoutMs: number): Promise<void> {
    if (this.state === State.Open) return Promise.resolve();
    if (this.state === State.Closed) return Promise.reject(new Error('closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`no upgrade answer within ${timeoutMs} ms`);
      }, timeoutMs);
      this.openResolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.openReject = (err) => {
        clearTimeout(timer);
        reject(err);
      };
    });
  }

  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** Sends one frame (FIN set, zero mask). Ignored once closed. */
  send(opcode: number, payload: Buffer): void {
    if (this.state !== State.Open) return;
    const len = payload.length;
    let hdr: number;
    if (len < 126) hdr = 6;
    else if (len < 65536) hdr = 8;
    else hdr = 14;
    const out = Buffer.allocUnsafe(hdr + len);
    out[0] = 0x80 | opcode;
    if (len < 126) {
      out[1] = 0x80 | len;
    } else if (len < 65536) {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(len, 2);
    } else {
      out[1] = 0x80 | 127;
      out.writeUInt32BE(0, 2);
      out.writeUInt32BE(len, 6);
    }
    out.writeUInt32BE(0, hdr - 4); // the zero masking key
    payload.copy(out, hdr);
    this.socket.write(out);
  }

  /** Ends the connection at once with a TCP reset: no TIME_WAIT left behind on the client's port. */
  destroy(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.socket.resetAndDestroy();
    this.sink.onClose(this, 'closed by generator');
  }

  private sendHandshake(): void {
    this.state = State.Handshake;
    const t = this.target;
    this.socket.write(
      `GET ${t.path} HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n` +
        (t.protocol ? `Sec-WebSocket-Protocol: ${t.protocol}\r\n` : '') +
        '\r\n',
    );
  }

  private fail(reason: string): void {
    if (this.state === State.Closed) return;
    const wasOpen = this.state === State.Open;
    this.state = State.Closed;
    this.socket.destroy();
    if (!wasOpen && this.openReject) this.openReject(new Error(reason));
    this.openReject = this.openResolve = null;
    this.sink.onClose(this, reason);
  }

  /** Always true: the generator reads as fast as it can (returning false would pause the socket). */
  private onRead(n: number, buf: Buffer): boolean {
    if (this.state === State.Handshake) {
      this.hs = this.hs ? Buffer.concat([this.hs, buf.subarray(0, n)]) : Buffer.from(buf.subarray(0, n));
      const at = this.hs.indexOf(HANDSHAKE_END);
      if (at < 0) {
        if (this.hs.length > MAX_HANDSHAKE) this.fail('upgrade response too large');
        return true;
      }
      const head = this.hs.toString('latin1', 0, at);
      const rest = this.hs.subarray(at + 4);
      this.hs = null;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
      if (status !== '101') {
        this.fail(`upgrade refused: HTTP ${status ?? '?'} ${head.split('\r\n')[0]}`);
        return true;
      }
      const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
      const want = createHash('sha1').update(this.key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (accept !== want) {
        this.fail('upgrade answer has a wrong Sec-WebSocket-Accept');
        return true;
      }
      this.state = State.Open;
      this.opened = true;
      this.openResolve?.();
      this.openResolve = this.openReject = null;
      if (rest.length > 0) this.parse(rest, 0, rest.length);
      return true;
    }
    if (this.state === State.Open) this.parse(buf, 0, n);
    return true;
  }

  /** Length of the frame starting at `p`, or -1 when its header is not complete yet. */
  private static frameLength(buf: Buffer, p: number, end: number): number {
    if (end - p < 2) return -1;
    const b1 = buf[p + 1]! & 127;
    const masked = buf[p + 1]! & 128 ? 4 : 0;
    if (b1 < 126) return 2 + masked + b1;
    if (b1 === 126) return end - p < 4 ? -1 : 4 + masked + buf.readUInt16BE(p + 2);
    if (end - p < 10) return -1;
    return 10 + masked + buf.readUInt32BE(p + 6) + buf.readUInt32BE(p + 2) * 2 ** 32;
  }

  private parse(buf: Buffer, p: number, end: number): void {
    if (this.pend) {
      p = this.completePending(buf, p, end);
      if (p < 0) return;
    }
    while (p < end && this.state === State.Open) {
      const total = WsConn.frameLength(buf, p, end);
      if (total < 0 || p + total > end) {
        this.keepPending(buf, p, end, total);
        return;
      }
      this.frame(buf, p, total);
      p += total;
    }
  }

  /** Feeds bytes to the cut frame; returns where the rest of `buf` starts, or -1 when all of it was taken. */
  private completePending(buf: Buffer, p: number, end: number): number {
    let pend = this.pend!;
    let total = WsConn.frameLength(pend, 0, this.pendLen);
    if (total < 0) {
      const take = Math.min(MAX_HEADER - this.pendLen, end - p);
      buf.copy(pend, this.pendLen, p, p + take);
      const tentative = WsConn.frameLength(pend, 0, this.pendLen + take);
      if (tentative < 0) {
        this.pendLen += take;
        return -1;
      }
      // The header is complete: undo and redo with the exact size below.
      total = tentative;
    }
    if (pend.length < total) {
      const bigger = Buffer.allocUnsafe(total);
      pend.copy(bigger, 0, 0, Math.min(pend.length, total));
      pend = this.pend = bigger;
    }
    const take = Math.min(total - this.pendLen, end - p);
    buf.copy(pend, this.pendLen, p, p + take);
    this.pendLen += take;
    if (this.pendLen < total) return -1;
    this.pend = null;
    this.pendLen = 0;
    this.frame(pend, 0, total);
    return p + take;
  }

  private keepPending(buf: Buffer, p: number, end: number, total: number): void {
    const size = Math.max(total, MAX_HEADER, end - p);
    this.pend = Buffer.allocUnsafe(size);
    buf.copy(this.pend, 0, p, end);
    this.pendLen = end - p;
  }

  private frame(buf: Buffer, p: number, total: number): void {
    const b0 = buf[p]!;
    const b1 = buf[p + 1]!;
    const len7 = b1 & 127;
    const hdr = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
    if (b1 & 128) {
      this.fail('server sent a masked frame');
      return;
    }
    const start = p + hdr;
    const end = p + total;
    const opcode = b0 & 15;
    const fin = (b0 & 128) !== 0;
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (fin) this.sink.onFrame(this, opcode, buf, start, end);
        else {
          this.frag = [Buffer.from(buf.subarray(start, end))];
          this.fragOp = opcode;
        }
        return;
      case OP_CONT: {
        if (!this.frag) {
          this.fail('continuation frame without a start');
          return;
        }
        this.frag.push(Buffer.from(buf.subarray(start, end)));
        if (fin) {
          const whole = Buffer.concat(this.frag);
          this.frag = null;
          this.sink.onFrame(this, this.fragOp, whole, 0, whole.length);
        }
        return;
      }
      case OP_PING:
        this.send(OP_PONG, Buffer.from(buf.subarray(start, end)));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
        const why = end - start > 2 ? buf.toString('utf8', start + 2, end) : '';
        this.fail(`server closed: ${code}${why ? ` ${why}` : ''}`);
        return;
      }
      default:
        this.fail(`unknown opcode ${opcode}`);
    }
  }
}
