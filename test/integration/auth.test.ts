import { generateKeyPairSync, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SignJWT, importPKCS8 } from 'jose';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { TestClient, expectRefused } from '../helpers/client.js';
import { token, TEST_SECRET } from '../helpers/tokens.js';

function b64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** Builds an HS256 JWS by hand so the test controls every byte (header included). */
function handRolled(header: object, payload: object, key: string | Buffer): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

t.test('HS256: every bad token is 401 with a JSON body and opens no socket', async (t) => {
  const { url, gateway } = await startGateway(t, { Auth: { Secret: TEST_SECRET, Issuer: 'platform', Audience: 'switchboard' } });
  const good = { iss: 'platform', aud: 'switchboard' };
  const ok = await TestClient.connect(url, { token: await token({ sub: 'u', ...good }) });
  await ok.close();
  const opened = gateway.metrics.get('connections_opened_total');

  const cases: [string, string | undefined][] = [
    ['no token', undefined],
    ['garbage', 'not-a-jwt'],
    ['bad signature', await token({ sub: 'u', ...good }, { secret: 'another-secret-another-secret-another-secret!!' })],
    ['alg none', `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: 'u', exp: now() + 60, ...good }))}.`],
    ['expired', handRolled({ alg: 'HS256' }, { sub: 'u', exp: now() - 3600, ...good }, TEST_SECRET)],
    ['not yet valid', handRolled({ alg: 'HS256' }, { sub: 'u', nbf: now() + 3600, exp: now() + 7200, ...good }, TEST_SECRET)],
    ['wrong issuer', await token({ sub: 'u', iss: 'evil', aud: 'switchboard' })],
    ['wrong audience', await token({ sub: 'u', iss: 'platform', aud: 'other' })],
    ['no sub', await token({ ...good })],
    ['16 KiB token', await token({ sub: 'u', pad: 'x'.repeat(16 * 1024), ...good })],
  ];
  for (const [name, tok] of cases) {
    for (const via of ['header', 'query'] as const) {
      const { status, body } = await expectRefused(url, tok === undefined ? {} : { token: tok, via });
      t.equal(status, 401, `${name} (${via}): 401`);
      t.equal(body?.error?.code, 'UNAUTHORIZED', `${name} (${via}): JSON error body`);
      t.type(body?.error?.message, 'string');
    }
  }
  t.equal(gateway.metrics.get('connections_opened_total'), opened, 'no socket was opened by any bad token');
  t.equal(gateway.hub.size, 0);
});

t.test('RS256 with a public key: HS256 signed with the public key as secret is refused', async (t) => {
  const dir = tempDir(t);
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const keyFile = join(dir, 'public.pem');
  writeFileSync(keyFile, publicPem);
  const { url } = await startGateway(t, { Auth: { PublicKeyFile: keyFile, Algorithms: ['RS256'] } });

  const signer = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
  const good = await new SignJWT({ groups: ['g'] }).setProtectedHeader({ alg: 'RS256' }).setSubject('rsa-user').setExpirationTime('1h').sign(signer);
  const c = await TestClient.connect(url, { token: good });
  t.equal((await c.request({ type: 'join', data: { group: 'g' } })).type, 'ack', 'claims from an RS256 token are honoured');
  await c.close();

  const confused = handRolled({ alg: 'HS256', typ: 'JWT' }, { sub: 'mallory', exp: now() + 600 }, publicPem);
  const { status, body } = await expectRefused(url, { token: confused });
  t.equal(status, 401);
  t.equal(body.error.code, 'UNAUTHORIZED');

  const ps = await new SignJWT({}).setProtectedHeader({ alg: 'PS256' }).setSubject('u').setExpirationTime('1h').sign(await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'PS256'));
  t.equal((await expectRefused(url, { token: ps })).status, 401, 'an algorithm not in Algorithms is refused even with the right key');
});

t.test('format negotiation: unsupported subprotocol or format is a 400', async (t) => {
  const { url } = await startGateway(t);
  const tok = await token({ sub: 'u' });
  const bad = await expectRefused(url, { token: tok, wsOptions: {} , negotiate: 'query', format: 'xml' as never });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'BAD_REQUEST');
});

t.test('HTTP routes: /healthz is ok, unknown paths are JSON 404', async (t) => {
  const { httpUrl } = await startGateway(t);
  const health = await fetch(`${httpUrl}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok' });
  const missing = await fetch(`${httpUrl}/nope`);
  t.equal(missing.status, 404);
  t.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  const metrics = await fetch(`${httpUrl}/metrics`);
  t.match(await metrics.text(), /switchboard_connections_current 0/);
});

t.test('JWKS file: EdDSA and ES256 tokens verify by kid; an unknown key is refused', async (t) => {
  const dir = tempDir(t);
  const ed = generateKeyPairSync('ed25519');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ed25519');
  const jwk = (k: ReturnType<typeof generateKeyPairSync>['publicKey'], kid: string, alg: string) => ({ ...k.export({ format: 'jwk' }), kid, alg, use: 'sig' });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk(ed.publicKey, 'ed-1', 'EdDSA'), jwk(ec.publicKey, 'ec-1', 'ES256')] }));
  const { url } = await startGateway(t, { Auth: { JwksFile: jwksFile, Algorithms: ['EdDSA', 'ES256'] } });

  const sign = (alg: string, kid: string, key: ReturnType<typeof generateKeyPairSync>['privateKey'], sub: string) =>
    new SignJWT({}).setProtectedHeader({ alg, kid }).setSubject(sub).setExpirationTime('1h').sign(key);
  for (const [alg, kid, key, sub] of [['EdDSA', 'ed-1', ed.privateKey, 'ed-user'], ['ES256', 'ec-1', ec.privateKey, 'ec-user']] as const) {
    const c = await TestClient.connect(url, { token: await sign(alg, kid, key, sub) });
    t.equal((await c.request({ type: 'ping' })).type, 'pong', `${alg} token accepted`);
    await c.close();
  }
  const refused = await expectRefused(url, { token: await sign('EdDSA', 'ed-1', stranger.privateKey, 'mallory') });
  t.equal(refused.status, 401, 'a token signed by a key not in the set is refused');
});
