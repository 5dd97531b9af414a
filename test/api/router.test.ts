import t from 'tap';
import { Router } from '../../src/transport/api/router.js';
import type { ApiRoute } from '../../src/transport/api/route.js';
import { ApiKeys } from '../../src/transport/api/api-keys.js';
import { answerFormat, bodyFormat, decodeBody } from '../../src/transport/api/wire.js';
import { DEFAULT_CODEC_LIMITS } from '../../src/protocol/validate.js';

const route = (method: ApiRoute['method'], path: string): ApiRoute => ({
  method, path, operationId: `${method}${path}`, summary: '', answer: {}, errors: [], handle: async () => ({}),
});

t.test('router: params are matched encoded, then decoded', async (t) => {
  const router = new Router([route('POST', '/groups/{group}/publish'), route('DELETE', '/groups/{group}/members/{user}'), route('POST', '/groups/{group}/members')]);
  const m = router.match('POST', '/groups/live%3A7/publish');
  t.ok(m.ok);
  if (m.ok) t.same(m.params, { group: 'live:7' });
  const slash = router.match('POST', '/groups/a%2Fb/publish');
  t.ok(slash.ok && slash.params['group'] === 'a/b', 'an encoded slash stays inside the parameter');
  t.ok(router.match('POST', '/groups/g/publish/').ok, 'a trailing slash is the same route');
  const two = router.match('DELETE', '/groups/g%20x/members/u%40d');
  t.ok(two.ok && two.params['group'] === 'g x' && two.params['user'] === 'u@d');
  const bad = router.match('POST', '/groups/%E0%A4%A/publish');
  t.ok(!bad.ok && bad.error.code === 'BAD_REQUEST' && /path\.group/.test(bad.error.message));
  const wrong = router.match('GET', '/groups/g/members');
  t.ok(!wrong.ok && wrong.error.code === 'METHOD_NOT_ALLOWED' && wrong.allow === 'POST');
  const none = router.match('POST', '/groups//publish');
  t.ok(!none.ok && none.error.code === 'NOT_FOUND', 'an empty parameter matches nothing');
  t.throws(() => new Router([route('GET', '/a'), route('GET', '/a')]), /duplicate/);
});

t.test('api keys: Bearer or X-API-Key, any configured key, clear refusals', async (t) => {
  const keys = new ApiKeys(['first-key-0123456789', 'second-key-0123456789']);
  const a = keys.authenticate('Bearer first-key-0123456789', '');
  const b = keys.authenticate('', 'second-key-0123456789');
  t.match(a.fingerprint, /^[0-9a-f]{8}$/);
  t.not(a.scope, b.scope, 'each key its own scope');
  t.equal(a.scope.slice(0, 8), a.fingerprint);
  const refuse = (auth: string, x: string, message: RegExp): void => {
    t.throws(() => keys.authenticate(auth, x), { code: 'UNAUTHORIZED', message }, `${auth || x.slice(0, 20)} refused`);
  };
  refuse('', '', /missing API key/);
  refuse('Bearer first-key-012345678', '', /invalid API key/);
  refuse('Basic Zmlyc3Q=', '', /missing/);
  refuse('', 'x'.repeat(10_000), /invalid API key/);
  t.throws(() => new ApiKeys([]).authenticate('Bearer first-key-0123456789', ''), /API disabled: set Http\.ApiKeys/);
});

t.test('wire: formats from headers, bodies checked like frames', async (t) => {
  t.equal(bodyFormat(''), 'json');
  t.equal(bodyFormat('application/json; charset=utf-8'), 'json');
  t.equal(bodyFormat('Application/MsgPack'), 'msgpack');
  t.throws(() => bodyFormat('text/plain'), /content-type "text\/plain"/);
  t.equal(answerFormat('text/html, application/msgpack;q=0.9'), 'msgpack');
  t.equal(answerFormat('*/*'), 'json');
  t.same(decodeBody(new Uint8Array(0), 'json', DEFAULT_CODEC_LIMITS), {}, 'an empty body is {}');
  t.throws(() => decodeBody(Buffer.from('"x"'), 'json', DEFAULT_CODEC_LIMITS), /body: expected an object/);
  t.throws(() => decodeBody(Buffer.from([0xff]), 'json', DEFAULT_CODEC_LIMITS), /not valid UTF-8/);
  t.throws(() => decodeBody(Buffer.from('{"a":"\\ud800"}'), 'json', DEFAULT_CODEC_LIMITS), /a: string is not well-formed/);
  t.throws(() => decodeBody(Uint8Array.from([0xc1]), 'msgpack', DEFAULT_CODEC_LIMITS), /invalid MessagePack/);
});
