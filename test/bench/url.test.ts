/**
 * `--url` mode: the bench loads a gateway it did not start (here one running inside this
 * test process on loopback, port 0) and must leave it running: it never signals it, and
 * the gateway still accepts connections afterwards. Scenarios that need their own
 * servers are skipped with a reason. Tiny sizes: a few connections, 1 s steps.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../helpers/gateway.js';
import { spawnGateway } from '../helpers/process.js';
import { TEST_SECRET, token } from '../helpers/tokens.js';
import { runBench, type BenchResult } from '../helpers/bench.js';
import { TestClient } from '../helpers/client.js';
import { loadRemote, parseWsUrl } from '../../bench/lib/remote.js';
import { parseArgs } from '../../bench/lib/args.js';

type Result = BenchResult;

/** Messages delivered in the run's steps (whether or not a step counted as sustained on a busy machine). */
const delivered = (r: Result | undefined): number => (r?.details?.steps ?? []).reduce((a, s) => a + s.delivered, 0);

const SETTINGS = (t: { teardown(fn: () => unknown): void }) => ({
  Offline: { Path: tempDir(t, 'sb-bench-url-store-') },
  ...LIMITS,
});
const LIMITS = { MaxConn: 1000, Limits: { MaxConnPerIp: 1000, UpgradesPerSecondPerIp: 10_000, RateLimit: { MessagesPerSecond: 10_000, Burst: 10_000 } } };

function readReport(out: string): { results: Result[] } {
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  if (!json) throw new Error(`no JSON report in ${out}: ${readdirSync(out).join(', ')}`);
  return JSON.parse(readFileSync(join(out, json), 'utf8')) as { results: Result[] };
}

t.test('--url loads a running gateway and never stops it', async (t) => {
  // A gateway process of its own, so --pid measures it and its exit would show.
  const gw = await spawnGateway(t, SETTINGS(t), { timeoutMs: 40_000 });
  const { url, httpUrl } = gw;
  let exited = '';
  void gw.exited.then((e) => (exited = `code ${e.code}, signal ${e.signal}`));
  const out = mkdtempSync(join(tmpdir(), 'sb-bench-url-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));

  const r = await runBench(
    ['--url', url, '--secret', TEST_SECRET, '--pid', String(gw.child.pid), '--scenario', 'direct,http,cluster',
      '--targets', 'gateway,raw-uws', '--connections', '20', '--pairs', '5', '--groups', '2', '--duration', '1s', '--steps', '1',
      '--direct-rates', '50', '--rates', '5', '--out', out],
    45_000,
  );
  t.equal(r.code, 0, `bench exit code (stderr: ${r.stderr.slice(-2000)})`);
  t.match(r.stderr, /direct step 1: offered/, 'the usual progress lines');
  const report = readReport(out);
  const get = (scenario: string, target: string) => report.results.find((x) => x.scenario === scenario && x.target === target);
  const d = get('direct', 'gateway');
  t.equal(d?.status, 'ok', `direct ran: ${d?.reason ?? ''}`);
  t.ok(delivered(d) > 0, `direct messages were delivered (${delivered(d)})`);
  t.equal(d?.figures['loss'], 0, 'no loss');
  t.ok((d?.figures['rtt_p99_ms@50'] as number) > 0, 'round trips were timed');
  t.type(d?.figures['server_cpu_us_per_msg@50'], 'number', 'server CPU read through --pid');
  for (const [sc, tg] of [['http', 'gateway'], ['cluster', 'gateway'], ['direct', 'raw-uws']] as const) {
    const x = get(sc, tg);
    t.equal(x?.status, 'skipped', `${sc} × ${tg} skipped`);
    t.match(x?.reason, /^--url: /, `${sc} × ${tg} says why`);
  }
  // The same gateway, with users taken from a token file and no --pid.
  const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => token({ sub: `tf-${i}` })));
  writeFileSync(join(out, 'tokens.txt'), `# one per line\n${tokens.join('\n')}\n`);
  const tf = join(out, 'tf');
  const r2 = await runBench(
    ['--url', url, '--token-file', join(out, 'tokens.txt'), '--scenario', 'direct', '--connections', '6', '--pairs', '3', '--groups', '1',
      '--duration', '1s', '--steps', '1', '--direct-rates', '30', '--out', tf],
    45_000,
  );
  t.equal(r2.code, 0, `--token-file run: exit code (stderr: ${r2.stderr.slice(-2000)})`);
  const d2 = readReport(tf).results.find((x) => x.scenario === 'direct');
  t.equal(d2?.status, 'ok', d2?.reason ?? '');
  t.ok(delivered(d2) > 0, `delivered to the token users (${delivered(d2)})`);
  t.equal(d2?.figures['server_cpu_us_per_msg@30'], null, 'server CPU is n/a without --pid');

  t.equal(exited, '', 'the gateway process is still running');
  t.equal(gw.child.signalCode, null, 'and was never signalled to stop');
  const health = await fetch(`${httpUrl}/healthz`);
  t.equal(health.status, 200, 'the gateway still answers /healthz');
  const c = await TestClient.connect(url, { token: await token({ sub: 'after-bench' }) });
  t.teardown(() => c.ws.close());
  t.pass('the gateway still accepts connections');
});

t.test('--url options are checked before anything runs', async (t) => {
  t.throws(() => parseWsUrl('wss://127.0.0.1:1/ws'), /wss:\/\/ is not supported/);
  t.throws(() => loadRemote({ url: 'ws://127.0.0.1:1/ws', secret: null, tokenFile: null, pid: null }, 1), /exactly one of --secret or --token-file/);
  t.throws(() => loadRemote({ url: 'http://127.0.0.1:1/ws', secret: 'x', tokenFile: null, pid: null }, 1), /must start with ws:\/\//);
  t.throws(() => parseArgs(['--secret', 'x'], '/tmp'), /go with --url/);
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-tok-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const same = await token({ sub: 'twice' });
  writeFileSync(join(dir, 'dup.txt'), `${same}\n${same}\n`);
  t.throws(() => loadRemote({ url: 'ws://127.0.0.1:1/ws', secret: null, tokenFile: join(dir, 'dup.txt'), pid: null }, 1), /already has a token/);
  writeFileSync(join(dir, 'few.txt'), `${await token({ sub: 'one' })}\n`);
  t.throws(() => loadRemote({ url: 'ws://127.0.0.1:1/ws', secret: null, tokenFile: join(dir, 'few.txt'), pid: null }, 5), /has 1 tokens but the run opens up to 5/);
  t.same(parseWsUrl('ws://[::1]:8080/ws?x=1'), { host: '::1', port: 8080, path: '/ws?x=1' });
});
