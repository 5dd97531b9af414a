import t from 'tap';
import { GroupPolicy, matchesPattern } from '../../src/core/group-policy.js';

t.test('patterns: exact names, prefixes ending in *, and * for everything', async (t) => {
  t.ok(matchesPattern('room:1', 'room:1'));
  t.notOk(matchesPattern('room:1', 'room:10'));
  t.ok(matchesPattern('room:*', 'room:10'));
  t.notOk(matchesPattern('room:*', 'room'), 'the prefix must be followed by something');
  t.ok(matchesPattern('*', 'anything'));
});

t.test('a group may be joined when open to all or listed in the token', async (t) => {
  const policy = new GroupPolicy(['lobby', 'public:*']);
  t.ok(policy.mayJoin([], 'lobby'));
  t.ok(policy.mayJoin([], 'public:chat'));
  t.notOk(policy.mayJoin([], 'vip'), 'no rule, no claim: refused');
  t.ok(policy.mayJoin(['vip'], 'vip'), 'the token names it');
  t.ok(policy.mayJoin(['team:*'], 'team:red'), 'the token names a pattern');
  t.notOk(policy.mayJoin(['team:*'], 'teams'));
});
