import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { spawnGateway } from '../helpers/process.js';
import { token } from '../helpers/tokens.js';

/** The content filter end to end: reject and mask, normalisation, nested content, a large list, SIGHUP reload. */

async function user(url: string, sub: string, claims: Record<string, unknown> = {}): Promise<TestClient> {
  return TestClient.connect(url, { token: await token({ sub, ...claims }) });
}

async function metric(httpUrl: string, line: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? NaN : Number(found.slice(line.length + 1));
}

const BASE = { Groups: { Open: ['room:*'] } };

t.test('reject: CONTENT_REJECTED, nothing delivered, stored or counted; full-width, mixed case and nested content', async (t) => {
  const { url, httpUrl } = await startGateway(t, { ...BASE, Filter: { Enable: true, Words: ['badword', '坏蛋'], Action: 'reject' } });
  const alice = await user(url, 'alice', { perms: ['broadcast'] });
  const bob = await user(url, 'bob');
  await alice.request({ type: 'join', data: { group: 'room:1' } });
  await bob.request({ type: 'join', data: { group: 'room:1' } });
  const cases: [string, unknown][] = [
    ['plain', 'a badword here'],
    ['mixed case', 'BadWord!'],
    ['full-width', 'ｂａｄｗｏｒｄ'],
    ['nested object and array', { meta: { tags: ['fine', ['deep', { text: 'you 坏蛋' }]] } }],
    ['in a key', { badword: 1 }],
  ];
  for (const [name, content] of cases) {
    const direct = await alice.request({ type: 'message', data: { to: 'bob', content } });
    t.equal(direct.data.code, 'CONTENT_REJECTED', `direct, ${name}`);
    const group = await alice.request({ type: 'group', data: { group: 'room:1', content } });
    t.equal(group.data.code, 'CONTENT_REJECTED', `group, ${name}`);
    const broadcast = await alice.request({ type: 'broadcast', data: { content } });
    t.equal(broadcast.data.code, 'CONTENT_REJECTED', `broadcast, ${name}`);
  }
  const clean = await alice.request({ type: 'message', data: { to: 'bob', content: { text: 'bad word, spaced out, is fine' } } });
  t.equal(clean.type, 'ack');
  const got = await bob.next((f: Frame) => f.type === 'message');
  t.equal(got.data.mid, clean.data.mid, 'the first message bob gets is the clean one');
  t.equal(got.data.seq, 1, 'no rejected message took an inbox seq');
  await bob.request({ type: 'ping' });
  t.equal(bob.ofType('group').length + bob.ofType('broadcast').length, 0, 'no rejected group message or broadcast delivered');
  t.equal(await metric(httpUrl, 'switchboard_messages_direct_total'), 1, 'only the clean message counted as sent');
  t.equal(await metric(httpUrl, 'switchboard_messages_group_total'), 0);
  t.equal(await metric(httpUrl, 'switchboard_filter_hits_total{action="reject"}'), 15);
  t.equal(await metric(httpUrl, 'switchboard_filter_hits_total{action="mask"}'), 0);
});

t.test('mask: each matched character becomes the mask, then the frame is delivered', async (t) => {
  const { url, httpUrl } = await startGateway(t, { ...BASE, Filter: { Enable: true, Words: ['darn', '坏蛋'], Action: 'mask', Mask: '#' } });
  const alice = await user(url, 'alice');
  const bob = await user(url, 'bob');
  await alice.request({ type: 'join', data: { group: 'room:1' } });
  await bob.request({ type: 'join', data: { group: 'room:1' } });
  const content = { text: 'DARN it, ｄａｒｎ it', list: ['你是坏蛋', 7, null, { deeper: 'DaRn' }], clean: 'hello' };
  const ack = await alice.request({ type: 'group', data: { group: 'room:1', content } });
  t.equal(ack.type, 'ack');
  const got = await bob.next((f: Frame) => f.type === 'group');
  t.same(got.data.content, { text: '#### it, #### it', list: ['你是##', 7, null, { deeper: '####' }], clean: 'hello' });
  const direct = await alice.request({ type: 'message', data: { to: 'bob', content: 'oh darn' } });
  t.equal(direct.type, 'ack');
  t.equal((await bob.next((f: Frame) => f.type === 'message')).data.content, 'oh ####');
  t.equal(await metric(httpUrl, 'switchboard_filter_hits_total{action="mask"}'), 2);
});

t.test('Apply limits the frame kinds filtered', async (t) => {
  const { url } = await startGateway(t, { ...BASE, Filter: { Enable: true, Words: ['badword'], Apply: ['group'] } });
  const alice = await user(url, 'alice');
  await alice.request({ type: 'join', data: { group: 'room:1' } });
  t.equal((await alice.request({ type: 'group', data: { group: 'room:1', content: 'badword' } })).data.code, 'CONTENT_REJECTED');
  t.equal((await alice.request({ type: 'message', data: { to: 'bob', content: 'badword' } })).type, 'ack', 'direct messages are not filtered');
});

t.test('a word list of 10,000 entries from WordsFile', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'words.txt');
  const words = Array.from({ length: 10_000 }, (_, i) => `w${i.toString(36)}q${((i * 7919) % 10_007).toString(36)}`);
  writeFileSync(file, `# generated\n${words.join('\n')}\n`);
  const { url } = await startGateway(t, { ...BASE, Filter: { Enable: true, WordsFile: file, Action: 'mask' } });
  const alice = await user(url, 'alice');
  const bob = await user(url, 'bob');
  const target = words[9_876]!;
  await alice.request({ type: 'message', data: { to: 'bob', content: `x ${target.toUpperCase()} y ${words[0]}` } });
  t.equal((await bob.next((f: Frame) => f.type === 'message')).data.content, `x ${'*'.repeat(target.length)} y ${'*'.repeat(words[0]!.length)}`);
});

t.test('SIGHUP reloads the word list with 100 clients connected; a bad file keeps the old list', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'words.txt');
  writeFileSync(file, 'alpha\n');
  const g = await spawnGateway(t, { Offline: { Engine: 'memory' }, Limits: { MaxConnPerIp: 1000, RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } }, Filter: { Enable: true, WordsFile: file } });
  const clients = await Promise.all(Array.from({ length: 100 }, async (_, i) => user(g.url, `u${i}`)));
  const closed: number[] = [];
  clients.forEach((c, i) => void c.closed.then(() => closed.push(i)));
  const probe = clients[0]!;
  const send = (content: string) => probe.request({ type: 'message', data: { to: 'u1', content } });
  t.equal((await send('alpha')).data.code, 'CONTENT_REJECTED');
  t.equal((await send('beta')).type, 'ack');

  const reloaded = (n: number) => g.logs.filter((l) => l['msg'] === 'content filter word list reloaded').length >= n;
  writeFileSync(file, 'beta\n');
  g.child.kill('SIGHUP');
  await until(() => reloaded(1));
  t.equal((await send('beta')).data.code, 'CONTENT_REJECTED', 'the new word is blocked');
  t.equal((await send('alpha')).type, 'ack', 'the removed word passes');

  // Invalid UTF-8: the reload fails, one error line, the old list stays.
  writeFileSync(file, Buffer.from([0x62, 0x65, 0xff, 0x0a]));
  g.child.kill('SIGHUP');
  await until(() => g.logs.some((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('content filter reload failed')));
  const failures = g.logs.filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('content filter reload failed'));
  t.equal(failures.length, 1, 'one clear line');
  t.match(failures[0]!['msg'], /keeping the previous 1 words: .*not valid UTF-8/);
  t.equal((await send('beta')).data.code, 'CONTENT_REJECTED', 'the old list is still in force');

  for (const c of clients) t.equal((await c.request({ type: 'ping' })).type, 'pong');
  t.same(closed, [], 'no client was dropped');
  t.equal(g.child.exitCode, null, 'the process is still running');
});

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
