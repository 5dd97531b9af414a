import t from 'tap';
import { spawnGateway } from '../helpers/process.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { tempDir } from '../helpers/gateway.js';
import { token } from '../helpers/tokens.js';
import { JournalInbox } from '../../src/engine/journal/inbox.js';

// Ten gateway processes in a row: more than the default per-file timeout.
t.setTimeout(400_000);

t.test('SIGTERM during a stream of direct messages: every frame is answered, nothing stored goes unacknowledged, 1012 for all', async (t) => {
  const runs = 10;
  for (let run = 1; run <= runs; run++) {
    const dir = tempDir(t, 'switchboard-shutdown-');
    const proc = await spawnGateway(t, { Offline: { Engine: 'journal', Path: dir, MaxPerUser: 100_000, Fsync: false }, Limits: { RateLimit: { MessagesPerSecond: 100_000, Burst: 100_000 } }, ShutdownTimeout: '5s' });
    const sender = await TestClient.connect(proc.url, { token: await token({ sub: 'busy' }), format: 'msgpack' });
    // Sends as fast as answers allow (up to 200 outstanding), 3,000 in all, and stops
    // sending at the SIGTERM: every frame written before it must be answered.
    const answers = new Map<string, Frame>();
    const sent: string[] = [];
    let signalled = false;
    let outstanding = 0;
    const total = 3_000;
    const pump = (): void => {
      while (!signalled && outstanding < 200 && sent.length < total) {
        const id = `m${run}-${sent.length}`;
        sent.push(id);
        outstanding += 1;
        sender.send({ type: 'message', id, data: { to: 'sink', content: id } });
      }
    };
    sender.ws.on('message', () => {
      for (const f of sender.frames.splice(0)) {
        if (f.id === undefined) continue;
        answers.set(f.id, f);
        outstanding -= 1;
      }
      if (!signalled && answers.size >= 1_000) {
        signalled = true;
        proc.child.kill('SIGTERM');
      }
      pump();
    });
    pump();
    const closed = await sender.closed;
    const exit = await proc.exited;
    t.equal(closed.code, 1012, `run ${run}: the busy sender saw 1012 (after ${sent.length} sent)`);
    t.equal(exit.code, 0, `run ${run}: exit 0`);
    const unanswered = sent.filter((id) => !answers.has(id));
    t.same(unanswered, [], `run ${run}: every one of the ${sent.length} frames sent before the SIGTERM was answered`);
    const acked = new Set([...answers.values()].filter((f) => f.type === 'ack').map((f) => f.id));

    // What was stored: open the stopped gateway's inbox file and read the recipient's entries.
    const inbox = await JournalInbox.open({ path: dir, maxPerUser: 100_000, ttlMs: 86_400_000 });
    const stored = (await inbox.read('sink', 0, 100_000)).map((e) => e.content as string);
    await inbox.close();
    t.same(stored.filter((id) => !acked.has(id)), [], `run ${run}: every stored message was acknowledged to its sender (${stored.length} stored)`);
    t.equal(stored.length, acked.size, `run ${run}: and every acknowledged one was stored`);
  }
});
