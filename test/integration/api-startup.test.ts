import t from 'tap';
import { spawnGateway } from '../helpers/process.js';

/** Start-up warnings about the API keys (a real process: the warning is written by main.ts). */

const DEV_KEY = 'dev-api-key-change-me-0123456789';
const warned = (logs: Record<string, unknown>[]) => logs.some((l) => l['level'] === 40 && /public development key/.test(String(l['msg'])));

t.test('the development API key from config.yaml is warned about at start-up', async (t) => {
  const dev = await spawnGateway(t, { Offline: { Engine: 'memory' }, Http: { ApiKeys: [DEV_KEY] } });
  t.ok(warned(dev.logs), 'warns while the public key is configured');
  const prod = await spawnGateway(t, { Offline: { Engine: 'memory' }, Http: { ApiKeys: ['a-real-secret-key-0123456789'] } });
  t.notOk(warned(prod.logs), 'no warning with another key');
  t.ok(prod.logs.every((l) => !JSON.stringify(l).includes('a-real-secret-key-0123456789')), 'the key itself is never logged');
  const none = await spawnGateway(t, { Offline: { Engine: 'memory' } });
  t.ok(none.logs.some((l) => l['level'] === 40 && /Http\.ApiKeys is empty/.test(String(l['msg']))), 'an empty key list is pointed out');
});
