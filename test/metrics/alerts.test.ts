import t from 'tap';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startGateway, testConfig } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { API_KEY, call } from '../helpers/api.js';
import { Scrape } from '../helpers/prometheus.js';
import { Gateway } from '../../src/gateway.js';
import { Alerts } from '../../src/metrics/alerts.js';
import { Metrics } from '../../src/metrics/registry.js';
import type { VitalsReading } from '../../src/metrics/vitals.js';
import { Webhook, type AlertEvent } from '../../src/metrics/webhook.js';

/** A loopback webhook receiver: keeps every JSON body posted and lets a test wait for the n-th. */
async function receiver(t: { teardown(fn: () => unknown): void }, status: () => number = () => 200): Promise<{ url: string; posts: AlertEvent[]; waitFor(n: number, timeoutMs?: number): Promise<AlertEvent[]> }> {
  const posts: AlertEvent[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const code = status();
      if (code === 200) posts.push(JSON.parse(body) as AlertEvent);
      res.writeHead(code, { 'content-type': 'application/json' }).end('{}');
      waiters = waiters.filter((w) => (posts.length >= w.n ? (w.resolve(), false) : true));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    posts,
    waitFor(n, timeoutMs = 8000) {
      if (posts.length >= n) return Promise.resolve(posts);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for webhook post #${n} (have ${posts.length})`)), timeoutMs);
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(posts); } });
      });
    },
  };
}

/** A pino logger whose lines a test can read and wait for. */
function capturedLogger(): { log: pino.Logger; lines: Record<string, unknown>[]; waitFor(match: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<void> } {
  const lines: Record<string, unknown>[] = [];
  let waiters: { match: (l: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        waiters = waiters.filter((w) => (w.match(line) ? (w.resolve(), false) : true));
      }
      done();
    },
  });
  return {
    log: pino({ level: 'info' }, stream),
    lines,
    waitFor(match, timeoutMs = 8000) {
      if (lines.some(match)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out waiting for a log line')), timeoutMs);
        waiters.push({ match, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
  };
}

const connectMany = async (url: string, n: number, prefix: string): Promise<TestClient[]> =>
  Promise.all(Array.from({ length: n }, async (_, i) => TestClient.connect(url, { token: await token({ sub: `${prefix}${i}` }) })));

t.test('connections Above 20 For 1s: 30 connections fire once, closing them resolves once', async (t) => {
  const hook = await receiver(t);
  const { url, httpUrl, gateway } = await startGateway(t, {
    Monitor: { Enable: false, Interval: '200ms' },
    Alerts: { Rules: [{ Name: 'too_many_connections', Metric: 'connections', Above: 20, For: '1s' }], Webhook: { Url: hook.url, Timeout: '1s', Retries: 2 } },
    Http: { ApiKeys: [API_KEY] },
  });
  const startedAt = Date.now();
  const clients = await connectMany(url, 30, 'u');
  const [firing] = await hook.waitFor(1);
  t.ok(Date.now() - startedAt >= 1000, 'not before the value stayed above the threshold for For');
  t.match(firing, { rule: 'too_many_connections', state: 'firing', value: 30, threshold: 20, node: gateway.nodeId });
  t.same(Object.keys(firing!).sort(), ['at', 'node', 'rule', 'state', 'threshold', 'value']);
  t.ok(!Number.isNaN(Date.parse(firing!.at)) && firing!.at.endsWith('Z'), 'at is an ISO 8601 UTC time');

  const stats = await call(httpUrl, 'GET', '/api/v1/stats');
  t.match(stats.body.alerts, [{ rule: 'too_many_connections', metric: 'connections', state: 'firing', value: 30, threshold: 20, forMs: 1000 }]);
  t.equal((await Scrape.of(httpUrl)).value('switchboard_alert_firing', { rule: 'too_many_connections' }), 1);

  // Taken before the first close: the server cannot see the count drop any earlier.
  const closingAt = Date.now();
  await Promise.all(clients.map((c) => c.close()));
  const posts = await hook.waitFor(2);
  t.ok(Date.now() - closingAt >= 1000, 'resolves only after staying below for For');
  t.match(posts[1], { rule: 'too_many_connections', state: 'resolved', value: 0, threshold: 20 });
  t.equal((await Scrape.of(httpUrl)).value('switchboard_alert_firing', { rule: 'too_many_connections' }), 0);
  t.equal((await call(httpUrl, 'GET', '/api/v1/stats')).body.alerts[0].state, 'ok');
  // Absence can only be checked over time: six more evaluations must not post again.
  await new Promise((r) => setTimeout(r, 1200));
  t.same(hook.posts.map((p) => p.state), ['firing', 'resolved'], 'exactly one firing and one resolved post');
});

t.test('a dead webhook receiver: the gateway keeps serving and logs the failure once per streak', async (t) => {
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));

  const config = testConfig({
    Monitor: { Enable: false, Interval: '100ms' },
    Alerts: { Rules: [{ Name: 'any_connection', Metric: 'connections', Above: 0, For: 0 }], Webhook: { Url: `http://127.0.0.1:${port}/hook`, Timeout: '500ms', Retries: 1 } },
  });
  const logs = capturedLogger();
  const gateway = await Gateway.start({ config, log: logs.log });
  t.teardown(() => gateway.stop());
  const url = `ws://127.0.0.1:${gateway.port}${config.server.path}`;

  const client = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  await logs.waitFor((l) => l['msg'] === 'alert firing' && l['level'] === 40);
  await logs.waitFor((l) => l['msg'] === 'alert webhook failing; retrying quietly until it answers again');
  for (let i = 0; i < 20; i++) t.equal((await client.request({ type: 'ping' })).type, 'pong');
  const health = await fetch(`http://127.0.0.1:${gateway.port}/healthz`);
  t.equal(health.status, 200, 'HTTP keeps answering');
  await client.close();
  await logs.waitFor((l) => l['msg'] === 'alert resolved' && l['level'] === 30);
  const other = await TestClient.connect(url, { token: await token({ sub: 'bob' }) });
  t.equal((await other.request({ type: 'ping' })).type, 'pong', 'new connections are accepted');
  await other.close();
  const failing = logs.lines.filter((l) => String(l['msg']).startsWith('alert webhook failing'));
  t.equal(failing.length, 1, 'one warning for the whole failure streak');
  t.match(failing[0], { url: `http://127.0.0.1:${port}/hook`, rule: 'any_connection', state: 'firing' });
  t.equal(logs.lines.filter((l) => l['msg'] === 'alert firing').length, 1, 'firing logged once');
});

function fakeVitals(): { value: number; vitals: { read(): VitalsReading } } {
  const state = {
    value: 0,
    vitals: {
      read: (): VitalsReading => ({
        connections: 0, users: 0, messagesInPerSecond: 0, messagesOutPerSecond: 0, latencyP50Ms: 0, latencyP99Ms: state.value,
        errorRate: 0, memoryRssMb: 0, heapUsedMb: 0, eventLoopP50Ms: 0, eventLoopP99Ms: 0,
      }),
    },
  };
  return state;
}

t.test('the rule state machine: For applies both ways, a dip restarts the wait', async (t) => {
  const source = fakeVitals();
  const metrics = new Metrics();
  const events: string[] = [];
  const log = pino({ level: 'silent' });
  const webhook = { post: (e: AlertEvent) => events.push(`${e.state}@${e.value}`), stop: () => {} } as unknown as Webhook;
  const alerts = new Alerts({ rules: [{ name: 'slow', metric: 'latency_p99_ms', above: 100, for: 1000 }], vitals: source.vitals, metrics, interval: 250, nodeId: 'n1', log, webhook });
  let now = 0;
  const at = (ms: number, value: number) => {
    now = ms;
    source.value = value;
    alerts.evaluate(now);
  };
  at(0, 150);
  at(500, 150);
  at(750, 90); // dips below: the wait restarts
  at(1000, 150);
  at(1750, 150);
  t.same(events, [], 'never above for a whole second yet');
  at(2000, 200);
  t.same(events, ['firing@200']);
  t.equal(metrics.get('alert_firing'), 1);
  t.match(alerts.list(), [{ rule: 'slow', state: 'firing', value: 200, threshold: 100, since: 2000 }]);
  at(2250, 100); // equal to the threshold is not above
  at(3000, 300);
  at(3250, 50);
  at(4000, 50);
  t.same(events, ['firing@200'], 'a bounce above restarted the wait to resolve');
  at(4250, 50);
  t.same(events, ['firing@200', 'resolved@50']);
  t.equal(metrics.get('alert_firing'), 0);
});

t.test('webhook: retries with backoff until the receiver answers, in order, logging the streak once', async (t) => {
  let failures = 2;
  const hook = await receiver(t, () => (failures-- > 0 ? 500 : 200));
  const logs = capturedLogger();
  const webhook = new Webhook({ url: hook.url, timeout: 1000, retries: 3 }, logs.log, { backoffMs: 20 });
  const event = (rule: string, state: 'firing' | 'resolved'): AlertEvent => ({ rule, state, value: 1, threshold: 0, node: 'n', at: new Date().toISOString() });
  webhook.post(event('a', 'firing'));
  webhook.post(event('a', 'resolved'));
  await webhook.idle();
  t.same(hook.posts.map((p) => `${p.rule}:${p.state}`), ['a:firing', 'a:resolved'], 'delivered after two failures, in order');
  t.equal(logs.lines.filter((l) => String(l['msg']).startsWith('alert webhook failing')).length, 1);
  t.match(logs.lines.find((l) => l['msg'] === 'alert webhook reachable again'), { failedAttempts: 2 });

  failures = 100;
  webhook.post(event('b', 'firing'));
  await webhook.idle();
  t.equal(hook.posts.length, 2, 'given up after Retries');
  t.equal(logs.lines.filter((l) => String(l['msg']).startsWith('alert webhook failing')).length, 2, 'a new streak is logged again');
  webhook.stop();
  webhook.post(event('c', 'firing'));
  await webhook.idle();
  t.equal(hook.posts.length, 2, 'nothing is sent after stop');
});
