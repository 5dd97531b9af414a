import t from 'tap';
import { spawnGateway } from '../helpers/process.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

t.test('SIGTERM with 100 connected clients: each gets 1012 and the process exits 0 within 5 s', async (t) => {
  const proc = await spawnGateway(t, { Offline: { Engine: 'memory' }, Limits: { UpgradesPerSecondPerIp: 1000 } });
  const clients: TestClient[] = [];
  for (let i = 0; i < 100; i += 10) {
    clients.push(...(await Promise.all(Array.from({ length: 10 }, async (_, j) => TestClient.connect(proc.url, { token: await token({ sub: `s${i + j}` }) })))));
  }
  t.equal(clients.length, 100);
  const started = Date.now();
  proc.child.kill('SIGTERM');
  const closes = await Promise.all(clients.map((c) => c.closed));
  const exit = await proc.exited;
  const elapsed = Date.now() - started;
  t.same([...new Set(closes.map((c) => c.code))], [1012], 'every client got close code 1012');
  t.equal(exit.code, 0, 'exit code 0');
  t.ok(elapsed < 5000, `exited within 5 s (took ${elapsed} ms)`);
  t.ok(proc.logs.some((l) => l['msg'] === 'stopped'), 'logged its stop');
});

t.test('an invalid config stops start-up with one clear line and exit code 2', async (t) => {
  await t.rejects(spawnGateway(t, { Limits: { MaxConnPerUser: 'lots' } }), /Limits\.MaxConnPerUser.*lots/);
});
