/**
 * Proves the bench itself works: runs `bench/run.ts --quick` on a tiny size against
 * raw-uws (and the gateway when dist/main.js is built) and checks that the report
 * holds sane figures. Performance is not asserted here: the bench checks its targets
 * itself and reports them; this test only checks that it measures.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runBench, type BenchResult } from './helpers/bench.js';

const root = resolve(import.meta.dirname, '..');
const gatewayBuilt = existsSync(join(root, 'dist', 'main.js'));
// The gateway is always asked for: unbuilt, it must be reported as skipped, not left out.
const targets = 'gateway,raw-uws';

type Result = BenchResult;


t.test('bad options are refused with exit code 2 and a message naming the option', async (t) => {
  const r = await runBench(['--connections', 'many'], 20_000);
  t.equal(r.code, 2);
  t.match(r.stderr, /--connections must be an integer/);
});

t.test('quick mode on a tiny size produces a sane report', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'sb-bench-test-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = await runBench(
    // `room` is `fanout` with one group (same code): left out to keep this test near 20 s.
    ['--quick', '--targets', targets, '--scenario', 'connect,fanout,direct,http,cluster', '--connections', '50',
      '--max-connections', '60', '--cluster-connections', '30', '--groups', '5', '--pairs', '5', '--duration', '1s',
      '--steps', '1', '--out', out],
    90_000,
  );
  t.equal(r.code, 0, `bench exit code (stderr: ${r.stderr.slice(-2000)})`);
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json'));
  t.ok(json, 'a JSON report was written');
  t.ok(files.includes('latest.md'), 'latest.md was written');
  const report = JSON.parse(readFileSync(join(out, json!), 'utf8')) as { results: Result[]; checks: unknown[] };
  const md = readFileSync(join(out, 'latest.md'), 'utf8');
  t.match(md, /\| figure \| .*raw-uws/, 'the Markdown has a table per scenario');
  t.match(r.stdout, /## fanout/, 'the report is printed too');

  const get = (scenario: string, target: string) => {
    const res = report.results.find((x) => x.scenario === scenario && x.target === target);
    if (!res) throw new Error(`no result for ${scenario} × ${target}`);
    return res;
  };
  const measured = gatewayBuilt ? ['raw-uws', 'gateway'] : ['raw-uws'];
  for (const target of measured) {
    const c = get('connect', target);
    t.equal(c.status, 'ok', `connect × ${target}: ${c.reason ?? ''}`);
    t.equal(c.figures.failures, 0, `connect × ${target}: no failures`);
    t.equal(c.figures.held_max, 60, `connect × ${target}: all 60 held`);
    t.type(c.figures.kb_per_conn, 'number');
    for (const sc of ['fanout']) {
      const f = get(sc, target);
      t.equal(f.status, 'ok', `${sc} × ${target}: ${f.reason ?? ''}`);
      // The step itself, not the sustained maximum: whether a one-second step counts as
      // sustained (95% of the offered rate by the last arrival) depends on how busy the
      // machine is, and this smoke check runs beside the rest of the suite. Speed is the
      // full bench's business; here the step must have run, been timed and lost nothing.
      const step = ((f.details as { steps?: { delivered: number; loss: number; p50: number | null; p99: number | null }[] }).steps ?? [])[0];
      t.ok(step !== undefined && step.delivered > 0, `${sc} × ${target}: messages delivered (${JSON.stringify(step)})`);
      t.equal(f.figures.loss, 0, `${sc} × ${target}: no loss`);
      t.equal(step?.loss, 0, `${sc} × ${target}: no loss in the step`);
      const p50 = step?.p50 ?? 0;
      const p99 = step?.p99 ?? 0;
      t.ok(p50 > 0 && p50 <= p99, `${sc} × ${target}: 0 < p50 (${p50}) <= p99 (${p99})`);
    }
    const d = get('direct', target);
    t.equal(d.status, 'ok', `direct × ${target}: ${d.reason ?? ''}`);
    t.equal(d.figures.loss, 0, `direct × ${target}: no loss`);
    t.ok((d.figures['rtt_p50_ms@500'] as number) > 0, `direct × ${target}: round trips were timed`);
    t.ok((d.figures['delivery_p99_ms@500'] as number) > 0, `direct × ${target}: deliveries were timed`);
  }
  if (!gatewayBuilt) {
    t.equal(get('fanout', 'gateway').status, 'skipped');
    t.match(get('fanout', 'gateway').reason, /gateway not built/);
  }
  if (gatewayBuilt) {
    const h = get('http', 'gateway');
    t.equal(h.status, 'ok', `http × gateway runs against the push route: ${h.reason ?? ''}`);
    t.ok((h.figures.requests_per_s as number) > 0 && (h.figures.durable_requests_per_s as number) > 0, 'memory and default durable inbox figures');
    t.equal(h.figures.non2xx, 0, 'every push answered 2xx');
  }
  // http and cluster either ran or say why not: never a silent gap.
  for (const r of report.results.filter((x) => x.scenario === 'http' || x.scenario === 'cluster')) {
    t.not(r.status, 'failed', `${r.scenario} × ${r.target}: ${r.reason ?? ''}`);
    if (r.status === 'skipped') t.ok(r.reason && r.reason.length > 0, `${r.scenario} × ${r.target} says why it was skipped`);
  }
  t.ok(Array.isArray(report.checks), 'targets are checked in the report');
});

t.test('outside --quick, the direct scenario measures the gateway again with the memory inbox', { skip: gatewayBuilt ? false : 'dist/main.js not built' }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'sb-bench-test-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = await runBench(
    ['--targets', 'gateway', '--scenario', 'direct', '--connections', '40', '--pairs', '5', '--duration', '1s', '--steps', '1', '--out', out],
    90_000,
  );
  t.equal(r.code, 0, `bench exit code (stderr: ${r.stderr.slice(-2000)})`);
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  const report = JSON.parse(readFileSync(join(out, json!), 'utf8')) as { results: Result[] };
  const d = report.results.find((x) => x.scenario === 'direct' && x.target === 'gateway')!;
  t.equal(d.status, 'ok', d.reason ?? '');
  t.equal(d.figures.loss, 0, 'no loss in either run');
  t.ok((d.figures['rtt_p99_ms@500'] as number) > 0, 'the LMDB inbox run was timed');
  const p50 = d.figures['memory_rtt_p50_ms@500'] as number;
  const p99 = d.figures['memory_rtt_p99_ms@500'] as number;
  t.ok(p50 > 0 && p50 <= p99, `memory inbox round trips were timed: 0 < p50 (${p50}) <= p99 (${p99})`);
  t.type(d.figures['memory_server_cpu_us_per_msg@500'], 'number', 'CPU per message of the memory inbox run');
  t.notOk('memory_rtt_p99_ms@2000' in d.figures, 'only the rates stepped are reported');
  t.match(r.stderr, /gateway direct \(memory inbox\)/, 'the memory inbox run has its own progress lines');
  t.match(readFileSync(join(out, 'latest.md'), 'utf8'), /\| memory inbox: round trip p99 at 500 msg\/s \(ms\) \| [0-9.]+ \|/, 'and its own rows in the report');
});

t.test('the generator client reassembles frames cut anywhere by reads', async (t) => {
  const { createServer } = await import('node:net');
  const { createHash } = await import('node:crypto');
  const { WsConn, OP_BINARY, OP_TEXT } = await import('../bench/gen/wsclient.js');
  const { Histogram } = await import('../bench/lib/hist.js');

  // Server frames of every length encoding: 7-bit, 16-bit and 64-bit, plus a fragmented one.
  const payloads = [Buffer.from('a'), Buffer.alloc(125, 1), Buffer.alloc(126, 2), Buffer.alloc(70_000, 3)];
  const frame = (op: number, p: Buffer, fin = true) => {
    const len = p.length;
    const hdr = len < 126 ? Buffer.from([0, len]) : len < 65536 ? Buffer.from([0, 126, len >> 8, len & 255]) : Buffer.alloc(10);
    if (len >= 65536) {
      hdr[1] = 127;
      hdr.writeUInt32BE(len, 6);
    }
    hdr[0] = (fin ? 0x80 : 0) | op;
    return Buffer.concat([hdr, p]);
  };
  const stream = Buffer.concat([
    ...payloads.map((p) => frame(OP_BINARY, p)),
    frame(OP_TEXT, Buffer.from('he'), false),
    frame(0, Buffer.from('llo')),
  ]);
  const server = createServer((sock) => {
    // The client ends with a TCP reset once it has every frame: that reset is expected.
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') t.error(err);
    });
    let head = '';
    sock.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: (\S+)/i.exec(head)![1];
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      // Dribble the frames out in uneven pieces so reads cut headers and payloads.
      let at = 0;
      const sizes = [1, 3, 2, 7, 130, 1, 65_000, 5];
      let k = 0;
      const pump = () => {
        if (at >= stream.length || sock.destroyed) return;
        const n = sizes[k++ % sizes.length]!;
        sock.write(stream.subarray(at, at + n));
        at += n;
        setImmediate(pump);
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;

  const got: Buffer[] = [];
  const ops: number[] = [];
  const all = new Promise<void>((resolve) => {
    const conn = new WsConn({ host: '127.0.0.1', port, path: '/' }, {
      onFrame(_c, op, buf, start, end) {
        got.push(Buffer.from(buf.subarray(start, end)));
        ops.push(op);
        if (got.length === payloads.length + 1) {
          conn.destroy();
          resolve();
        }
      },
      onClose() {
        // Only the generator's own destroy() closes this connection; the frames are checked below.
      },
    });
  });
  await all;
  t.same(got.slice(0, payloads.length).map((b) => b.length), payloads.map((p) => p.length));
  payloads.forEach((p, i) => t.ok(got[i]!.equals(p), `frame ${i} (${p.length} bytes) intact`));
  t.equal(got[payloads.length]!.toString(), 'hello', 'fragmented text message reassembled');
  t.same(ops, [OP_BINARY, OP_BINARY, OP_BINARY, OP_BINARY, OP_TEXT]);

  const h = new Histogram();
  for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 .. 100 ms
  t.ok(Math.abs(h.quantile(0.5)! - 50) / 50 < 0.02, `p50 ${h.quantile(0.5)} ≈ 50 ms`);
  t.ok(Math.abs(h.quantile(0.99)! - 99) / 99 < 0.02, `p99 ${h.quantile(0.99)} ≈ 99 ms`);
  t.equal(h.count, 1000);
});

t.test('the shared clock of the bench processes agrees with the monotonic clock', async (t) => {
  // In a fresh process, where the first hrtime read is slow: a clock built from one read is off by ~1 ms.
  const script = `
    const base = process.hrtime.bigint();
    const { makeClock } = await import('./bench/lib/clock.ts');
    const clock = makeClock(base);
    const out = [];
    for (let i = 0; i < 5; i++) {
      const before = clock();
      const mono = Number(process.hrtime.bigint() - base) / 1e6;
      out.push([before, mono, clock()]);
    }
    console.log(JSON.stringify(out));`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  const text = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, ['--import', './bench/register.mjs', '--input-type=module', '-e', script], { cwd: root, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('exit', (code) => (code === 0 ? done(out) : fail(new Error(`clock probe exited ${code}: ${err}`))));
  });
  const samples = JSON.parse(text) as Array<[number, number, number]>;
  t.equal(samples.length, 5);
  for (const [before, mono, after] of samples) {
    t.ok(mono >= before - 0.05 && mono <= after + 0.05, `hrtime ${mono} ms lies within [${before}, ${after}] ± 0.05 ms`);
  }
});
