import t from 'tap';
import { DEFAULT_RULE, GroupPolicy, matchesPattern } from '../../src/core/group-policy.js';
import type { GroupRule } from '../../src/config.js';

const rule = (r: Partial<GroupRule> & { match: string }): GroupRule => ({ ...DEFAULT_RULE, ...r });
const IMPORTANT = { size: 7, ttl: 1000 };
const principal = (groups: string[] = [], publish: string[] = []) => ({ groups, publish });

t.test('patterns', async (t) => {
  t.ok(matchesPattern('room:*', 'room:1'));
  t.notOk(matchesPattern('room:*', 'room'));
  t.ok(matchesPattern('*', 'anything'));
  t.ok(matchesPattern('lobby', 'lobby'));
  t.notOk(matchesPattern('lobby', 'lobby2'));
});

t.test('first matching rule wins; Open patterns come after Rules; unmatched groups get the default', async (t) => {
  const policy = new GroupPolicy({
    rules: [
      rule({ match: 'live:vip', join: 'claim', publish: 'none' }),
      rule({ match: 'live:*', join: 'open', publish: 'claim', presence: 'none', history: { size: 10, ttl: 60_000 } }),
      rule({ match: 'room:special', join: 'claim', maxMembers: 2 }),
    ],
    open: ['room:*'],
    importantHistory: IMPORTANT,
  });
  t.equal(policy.rule('live:vip').publish, 'none', 'the earlier, narrower rule');
  t.equal(policy.rule('live:1').publish, 'claim');
  t.equal(policy.rule('room:special').maxMembers, 2, 'a rule before Groups.Open wins over it');
  t.equal(policy.rule('room:1').join, 'open', 'Groups.Open acts as Join: open');
  t.equal(policy.rule('room:1').publish, 'members', 'with the other keys at their defaults');
  t.equal(policy.rule('other'), DEFAULT_RULE);
  t.equal(policy.rule('live:1'), policy.rule('live:1'), 'cached lookups give the same rule');
});

t.test('join: open, or the groups claim', async (t) => {
  const policy = new GroupPolicy({ rules: [rule({ match: 'live:*', join: 'open' })], open: [], importantHistory: IMPORTANT });
  t.ok(policy.mayJoin(principal(), 'live:1'));
  t.notOk(policy.mayJoin(principal(), 'team:1'), 'no rule, no claim: refused');
  t.ok(policy.mayJoin(principal(['team:*']), 'team:1'), 'claim pattern');
  t.ok(policy.mayJoin(principal(['team:1']), 'team:1'), 'claim name');
  t.notOk(policy.mayJoin(principal(['team:1']), 'team:2'));
});

t.test('publish: members, claim, none', async (t) => {
  const policy = new GroupPolicy({
    rules: [rule({ match: 'live:*', join: 'open', publish: 'claim' }), rule({ match: 'feed', publish: 'none' })],
    open: ['room:*'],
    importantHistory: IMPORTANT,
  });
  t.ok(policy.mayPublish(principal(), 'room:1', true), 'members: a member');
  t.notOk(policy.mayPublish(principal([], ['room:*']), 'room:1', false), 'members: a publish claim alone is not membership');
  t.ok(policy.mayPublish(principal([], ['live:*']), 'live:1', false), 'claim: joining not needed');
  t.notOk(policy.mayPublish(principal(['live:*']), 'live:1', true), 'claim: a member without the claim is refused');
  t.notOk(policy.mayPublish(principal([], ['*']), 'feed', true), 'none: nobody');
});

t.test('presence visibility and history limits', async (t) => {
  const policy = new GroupPolicy({
    rules: [rule({ match: 'big:*', presence: 'none' }), rule({ match: 'chat:*', history: { size: 50, ttl: 5000 } })],
    open: [],
    importantHistory: IMPORTANT,
  });
  t.notOk(policy.presenceVisible('big:1'));
  t.ok(policy.presenceVisible('chat:1'));
  t.same(policy.historyFor('chat:1', false), { size: 50, ttl: 5000 }, 'the rule\'s History');
  t.same(policy.historyFor('chat:1', true), { size: 50, ttl: 5000 }, 'important messages of a history group use its History');
  t.equal(policy.historyFor('big:1', false), undefined, 'no history');
  t.same(policy.historyFor('big:1', true), IMPORTANT, 'important: Groups.ImportantHistory');
});
