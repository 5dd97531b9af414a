/**
 * Durability under kill -9, for each durable engine (LMDB, journal): a child process
 * appends through the inbox and prints each
 * append the moment it resolves; the parent SIGKILLs it right after the 1000th such
 * line, reopens the same directory and checks that every acknowledged append is
 * there, in order, exactly once, and that its de-duplication record survived with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { DURABLE_ENGINES, openDurableInbox } from '../helpers/durable-inbox.js';
import { spawnTs } from '../helpers/ts-child.js';

const USERS = 10;
const PER_USER = 100;
const TOTAL = USERS * PER_USER;

for (const engine of DURABLE_ENGINES) t.test(`${engine}: appends acknowledged before a SIGKILL are all on disk, in order, once`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const child = spawnTs('test/helpers/inbox-writer.ts', [engine, dir, String(USERS), String(PER_USER)]);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));

  /** Acknowledged appends per user: seq -> mid, in the order the lines arrived. */
  const acked = new Map<string, Array<{ seq: number; mid: string }>>();
  let userLines = 0;
  const lines = createInterface({ input: child.stdout! });
  const linesClosed = new Promise<void>((resolve) => lines.once('close', resolve));
  const killedAfter1000 = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer produced ${userLines} lines in 20 s; stderr: ${stderr.join('')}`)), 20_000);
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`writer exited (${String(how)}) after ${userLines} lines; stderr: ${stderr.join('')}`));
    });
    lines.on('line', (line) => {
      if (line === 'done') return;
      const [user, seq, mid] = line.split(' ');
      if (!user || !seq || !mid) {
        reject(new Error(`unexpected writer line: ${line}`));
        return;
      }
      const list = acked.get(user) ?? [];
      list.push({ seq: Number(seq), mid });
      acked.set(user, list);
      if (user !== 'noise' && ++userLines === TOTAL) {
        child.kill('SIGKILL');
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await killedAfter1000;
  t.equal(await exited, 'SIGKILL', 'the writer died by SIGKILL, without any shutdown');
  // Lines already in the pipe when it died were acknowledged too: read them all.
  await linesClosed;

  const inbox = await openDurableInbox(engine, dir);
  t.teardown(() => inbox.close());
  for (let u = 0; u < USERS; u++) {
    const user = `user${u}`;
    const printed = acked.get(user) ?? [];
    t.same(printed.map((a) => a.seq), Array.from({ length: PER_USER }, (_, i) => i + 1), `${user}: seqs acknowledged in order`);
    const stored = await inbox.read(user, 0, 10 * PER_USER);
    t.same(stored.map((e) => e.seq), printed.map((a) => a.seq), `${user}: every acknowledged seq is stored, once, in order`);
    t.same(stored.map((e) => e.mid), printed.map((a) => a.mid), `${user}: each seq holds the acknowledged message`);
    t.equal(await inbox.lastSeq(user), PER_USER, `${user}: the counter matches`);
  }
  // The kill may have cut noise appends short; whatever was acknowledged must be there,
  // and whatever is there must be a gap-free prefix (no torn transaction).
  const noise = await inbox.read('noise', 0, 1_000_000);
  const noiseSeqs = noise.map((e) => e.seq);
  t.same(noiseSeqs, Array.from({ length: noise.length }, (_, i) => i + 1), 'noise: stored seqs are 1..n without gaps');
  t.ok(noise.length >= (acked.get('noise')?.length ?? 0), `noise: all ${acked.get('noise')?.length ?? 0} acknowledged appends are stored (${noise.length})`);
  const storedNoise = new Map(noise.map((e) => [e.seq, e.mid]));
  t.ok((acked.get('noise') ?? []).every((a) => storedNoise.get(a.seq) === a.mid), 'noise: each acknowledged seq holds its message');
  t.equal(await inbox.lastSeq('noise'), noise.length, 'noise: the counter matches what is stored');
  // De-duplication records were committed with their entries: a resend of every
  // acknowledged append after the crash is answered with the original seq and stores nothing.
  for (const [user, printed] of acked) {
    const answers = await Promise.all(printed.map((a) => inbox.append(user,
      { mid: `resend-${a.mid}`, from: 'writer', to: user, content: null, timestamp: Date.now() }, { dedup: { key: a.mid, ttlMs: 3_600_000 } })));
    t.same(answers.map((r) => [r.seq, r.duplicate?.mid]), printed.map((a) => [a.seq, a.mid]), `${user}: every acknowledged append is de-duplicated after the crash`);
  }
  t.equal(await inbox.lastSeq('user0'), PER_USER, 'the resends stored nothing');
  const after = await inbox.append('user0', { mid: 'after', from: 'f', to: 'user0', content: null, timestamp: Date.now() });
  t.match(after, { seq: PER_USER + 1, epoch: /^[0-9a-z]{12}$/, dropped: 0 }, 'appending continues after the crash');
  t.same((await inbox.read('user0', 0, 1)).map((e) => e.epoch), [after.epoch], 'in the epoch the crashed process used');
});
