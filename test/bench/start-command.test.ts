import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCommand } from '../../bench/lib/targets.js';

const root = join(import.meta.dirname, '..', '..');

function withScript(t: { teardown(fn: () => void): void }, start: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-flags-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ scripts: { start } }));
  return dir;
}

t.test('the bench starts the gateway with the environment and node flags of npm start', async (t) => {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const { env, flags } = startCommand(root);
  t.ok(flags.length > 0, `flags found in ${JSON.stringify(script)}`);
  for (const flag of flags) t.ok(script.includes(flag), `${flag} is in the start script`);
  t.ok(flags.some((f) => f.startsWith('--max-semi-space-size=')), 'the heap setting the README documents');
  t.same(env, { MALLOC_ARENA_MAX: '2' }, 'the allocator setting the README documents');
});

t.test('assignments and flags are read from the script as written', async (t) => {
  t.same(startCommand(withScript(t, 'exec node dist/main.js')), { env: {}, flags: [] });
  t.same(startCommand(withScript(t, 'node --max-semi-space-size=2 --max-old-space-size=512 dist/main.js')), { env: {}, flags: ['--max-semi-space-size=2', '--max-old-space-size=512'] });
  t.same(startCommand(withScript(t, 'MALLOC_ARENA_MAX=2 UV_THREADPOOL_SIZE=8 exec node --expose-gc dist/main.js')), { env: { MALLOC_ARENA_MAX: '2', UV_THREADPOOL_SIZE: '8' }, flags: ['--expose-gc'] });
});

t.test('a start script of another shape stops the bench instead of being guessed at', async (t) => {
  t.throws(() => startCommand(withScript(t, 'tsx src/main.ts')), /scripts\.start is not/);
  t.throws(() => startCommand(withScript(t, 'exec node dist/main.js --config x.yaml')), /scripts\.start is not/);
  t.throws(() => startCommand(withScript(t, 'cd x && exec node dist/main.js')), /scripts\.start is not/);
  t.throws(() => startCommand(withScript(t, undefined)), /scripts\.start is not/);
});
