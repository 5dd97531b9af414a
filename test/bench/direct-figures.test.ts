import t from 'tap';
import { parseArgs } from '../../bench/lib/args.js';
import { direct, runsMemoryInbox } from '../../bench/scenarios/direct.js';

const keys = (argv: string[]): string[] => direct.figuresFor!(parseArgs(argv, '/tmp')).map((f) => f.key);

t.test('the memory inbox run belongs to full runs the bench starts itself', async (t) => {
  t.equal(runsMemoryInbox(parseArgs([], '/tmp')), true, 'a full run');
  t.equal(runsMemoryInbox(parseArgs(['--quick'], '/tmp')), false, '--quick stays a short smoke check');
  t.equal(runsMemoryInbox(parseArgs(['--url', 'ws://127.0.0.1:1/ws', '--secret', 's'.repeat(32)], '/tmp')), false, 'a gateway given by --url cannot be restarted with another engine');
});

t.test('its figures follow the quoted rates and come after the LMDB figures', async (t) => {
  const full = keys([]);
  t.ok(full.includes('memory_rtt_p99_ms@500') && full.includes('memory_rtt_p99_ms@2000'), 'both quoted rates');
  t.ok(full.includes('memory_server_cpu_us_per_msg@2000'));
  t.ok(full.indexOf('memory_rtt_p50_ms@500') > full.indexOf('durable'), 'after the durable-inbox rows');
  t.same(keys(['--direct-rates', '700', '--steps', '1']).filter((k) => k.startsWith('memory_')), ['memory_rtt_p50_ms@700', 'memory_rtt_p99_ms@700', 'memory_server_cpu_us_per_msg@700']);
  t.same(keys(['--quick']).filter((k) => k.startsWith('memory_')), [], 'none in --quick');
});
