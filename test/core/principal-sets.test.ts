import t from 'tap';
import { SignJWT } from 'jose';
import { Authenticator } from '../../src/core/auth.js';
import { TEST_SECRET } from '../helpers/tokens.js';

const auth = new Authenticator({ secret: TEST_SECRET, algorithms: ['HS256'], clockTolerance: 0 });

async function principal(claims: Record<string, unknown>) {
  const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_SECRET));
  return auth.verify(token);
}

t.test('tokens with the same perms list share one set; other lists get their own', async (t) => {
  const a = await principal({ sub: 'a', perms: ['broadcast', 'presence'] });
  const b = await principal({ sub: 'b', perms: ['broadcast', 'presence'] });
  const c = await principal({ sub: 'c', perms: ['broadcast'] });
  const joined = await principal({ sub: 'd', perms: ['broadcast,presence'] });
  t.equal(a.perms, b.perms, 'one set for one list');
  t.not(a.perms, c.perms);
  t.same([...c.perms], ['broadcast']);
  t.not(joined.perms, a.perms, 'a list of one comma-joined name is another list');
  t.same([...joined.perms], ['broadcast,presence']);
  t.ok(a.perms.has('presence'));
  t.notOk(joined.perms.has('presence'));
});

t.test('many distinct lists: each principal still gets exactly its own perms', async (t) => {
  const seen = [];
  for (let i = 0; i < 150; i++) seen.push(await principal({ sub: `u${i}`, perms: [`p${i}`, 'common'] }));
  for (let i = 0; i < 150; i++) t.same([...seen[i]!.perms].sort(), ['common', `p${i}`].sort(), `u${i}`);
  const again = await principal({ sub: 'z', perms: ['p149', 'common'] });
  t.same([...again.perms], ['p149', 'common']);
});

t.test('tokens with the same groups or publish list share one frozen list', async (t) => {
  const a = await principal({ sub: 'a', groups: ['room:*', 'lobby'], publish: ['lobby'] });
  const b = await principal({ sub: 'b', groups: ['room:*', 'lobby'], publish: ['lobby'] });
  const c = await principal({ sub: 'c', groups: ['lobby', 'room:*'] });
  t.equal(a.groups, b.groups, 'one list for one groups claim');
  t.equal(a.publish, b.publish, 'one list for one publish claim');
  t.same(a.groups, ['room:*', 'lobby']);
  t.not(c.groups, a.groups, 'another order is another list');
  t.same(c.groups, ['lobby', 'room:*']);
  t.same(c.publish, []);
  t.ok(Object.isFrozen(a.groups), 'a shared list cannot be changed by one holder');
  t.throws(() => (a.groups as string[]).push('x'));
  const many = [];
  for (let i = 0; i < 150; i++) many.push(await principal({ sub: `g${i}`, groups: [`g${i}`] }));
  for (let i = 0; i < 150; i++) t.same(many[i]!.groups, [`g${i}`], `g${i} keeps its own list past the cache size`);
});
