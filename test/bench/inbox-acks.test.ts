import t from 'tap';
import { InboxAcks, type AckTimers } from '../../bench/gen/inbox-acks.js';

/** Timers driven by the test: `advance` fires what is due, in order. */
class ManualTimers implements AckTimers {
  now = 0;
  readonly #due = new Map<number, { at: number; fn: () => void }>();
  #next = 0;
  set(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.#due.set(id, { at: this.now + ms, fn });
    return id;
  }
  clear(handle: unknown): void {
    this.#due.delete(handle as number);
  }
  advance(ms: number): void {
    this.now += ms;
    for (const [id, timer] of [...this.#due].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.now) continue;
      this.#due.delete(id);
      timer.fn();
    }
  }
}

function setup() {
  const timers = new ManualTimers();
  const sent: { name: string; upTo: number; at: number }[] = [];
  type Conn = { name: string; seq: number; ackedSeq: number };
  const acks = new InboxAcks<Conn>((c) => {
    sent.push({ name: c.name, upTo: c.seq, at: timers.now });
    c.ackedSeq = c.seq;
  }, 32, 250, timers);
  const receive = (c: Conn, n = 1): void => {
    for (let i = 0; i < n; i++) {
      c.seq += 1;
      acks.received(c);
    }
  };
  return { timers, sent, acks, receive, conn: (name: string): Conn => ({ name, seq: 0, ackedSeq: 0 }) };
}

t.test('each recipient acks 250 ms after its own first unacknowledged message, not on a shared beat', async (t) => {
  const { timers, sent, receive, conn } = setup();
  const a = conn('a');
  const b = conn('b');
  receive(a);
  timers.advance(100);
  receive(b);
  receive(a);
  timers.advance(149);
  t.same(sent, [], 'nothing before the interval');
  timers.advance(1);
  t.same(sent, [{ name: 'a', upTo: 2, at: 250 }], 'a: 250 ms after its first message, everything so far');
  timers.advance(100);
  t.same(sent.map((s) => [s.name, s.at]), [['a', 250], ['b', 350]], 'b: on its own timer, 100 ms later');
  timers.advance(1000);
  t.equal(sent.length, 2, 'nothing more without new messages');
  receive(a);
  timers.advance(250);
  t.same(sent.at(-1), { name: 'a', upTo: 3, at: 1600 }, 'the next message arms the interval again');
});

t.test('32 messages ack at once and disarm the interval', async (t) => {
  const { timers, sent, acks, receive, conn } = setup();
  const a = conn('a');
  receive(a, 31);
  t.equal(sent.length, 0);
  t.equal(acks.waiting, 1);
  receive(a);
  t.same(sent, [{ name: 'a', upTo: 32, at: 0 }], 'the 32nd message acks at once');
  t.equal(acks.waiting, 0, 'no timer left behind');
  timers.advance(1000);
  t.equal(sent.length, 1, 'and no second ack for the same messages');
});

t.test('a closed recipient acks nothing more', async (t) => {
  const { timers, sent, acks, receive, conn } = setup();
  const a = conn('a');
  receive(a);
  acks.forget(a);
  timers.advance(1000);
  t.same(sent, []);
  t.equal(acks.waiting, 0);
});
