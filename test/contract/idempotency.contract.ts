import type tap from 'tap';
import type { IdempotencyStore } from '../../src/engine/idempotency.js';

type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];

export interface IdempotencyFixture {
  store: IdempotencyStore;
  /** A second store on the same data, as another node would have (shared engines only). */
  peer?: () => Promise<IdempotencyStore>;
  cleanup: () => Promise<void>;
}

const FP_A = 'a'.repeat(64);
const FP_B = 'b'.repeat(64);
const SCOPE = 'c'.repeat(64);
const OTHER_SCOPE = 'd'.repeat(64);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The one IdempotencyStore contract: every engine runs it with a factory that returns
 * an empty store each time.
 */
export function idempotencyContract(t: TapTest, name: string, factory: () => Promise<IdempotencyFixture>): void {
  const test = (title: string, body: (t: TapTest, fx: IdempotencyFixture) => Promise<void>): void => {
    void t.test(`${name}: ${title}`, async (t) => {
      const fx = await factory();
      t.teardown(() => fx.cleanup());
      await body(t, fx);
    });
  };

  test('claim, then pending, then done with the stored answer', async (t, { store }) => {
    t.same(await store.begin(SCOPE, 'k1', FP_A, 60_000), { state: 'claimed' });
    t.same(await store.begin(SCOPE, 'k1', FP_A, 60_000), { state: 'pending', fingerprint: FP_A }, 'a retry while running sees pending');
    const answer = { status: 200, body: { results: [{ to: 'bob', mid: 'm1', seq: 3, status: 'stored' }], n: null, t: 'ü' } };
    await store.finish(SCOPE, 'k1', FP_A, answer, 60_000);
    t.same(await store.begin(SCOPE, 'k1', FP_A, 60_000), { state: 'done', fingerprint: FP_A, answer }, 'the answer comes back intact');
    t.same(await store.begin(SCOPE, 'k1', FP_B, 60_000), { state: 'done', fingerprint: FP_A, answer }, 'another body sees the first fingerprint');
  });

  test('keys are separate per scope and per key', async (t, { store }) => {
    t.same(await store.begin(SCOPE, 'k', FP_A, 60_000), { state: 'claimed' });
    t.same(await store.begin(OTHER_SCOPE, 'k', FP_A, 60_000), { state: 'claimed' }, 'another API key has its own keys');
    t.same(await store.begin(SCOPE, 'k2', FP_A, 60_000), { state: 'claimed' });
    t.same(await store.begin(SCOPE, '{k}|x', FP_A, 60_000), { state: 'claimed' }, 'any characters in a key');
    t.same(await store.begin(SCOPE, '{k}|x', FP_A, 60_000), { state: 'pending', fingerprint: FP_A });
  });

  test('abandon releases only a pending claim of the same fingerprint', async (t, { store }) => {
    await store.begin(SCOPE, 'k', FP_A, 60_000);
    await store.abandon(SCOPE, 'k', FP_B);
    t.same(await store.begin(SCOPE, 'k', FP_A, 60_000), { state: 'pending', fingerprint: FP_A }, 'another fingerprint cannot release it');
    await store.abandon(SCOPE, 'k', FP_A);
    t.same(await store.begin(SCOPE, 'k', FP_B, 60_000), { state: 'claimed' }, 'free again after abandon');
    await store.finish(SCOPE, 'k', FP_B, { status: 200, body: {} }, 60_000);
    await store.abandon(SCOPE, 'k', FP_B);
    t.equal((await store.begin(SCOPE, 'k', FP_B, 60_000)).state, 'done', 'a finished record is not abandoned');
  });

  test('finish does not overwrite a key that another request holds', async (t, { store }) => {
    t.same(await store.begin(SCOPE, 'k', FP_B, 60_000), { state: 'claimed' });
    await store.finish(SCOPE, 'k', FP_A, { status: 200, body: { late: true } }, 60_000);
    t.same(await store.begin(SCOPE, 'k', FP_B, 60_000), { state: 'pending', fingerprint: FP_B });
  });

  test('a lapsed claim and an expired answer free the key', async (t, { store }) => {
    t.same(await store.begin(SCOPE, 'lease', FP_A, 150), { state: 'claimed' });
    await until('the lease to lapse', async () => (await store.begin(SCOPE, 'lease', FP_B, 60_000)).state === 'claimed');
    await store.begin(SCOPE, 'ttl', FP_A, 60_000);
    await store.finish(SCOPE, 'ttl', FP_A, { status: 200, body: 1 }, 150);
    t.equal((await store.begin(SCOPE, 'ttl', FP_A, 60_000)).state, 'done', 'kept within its TTL');
    await until('the answer to expire', async () => {
      const claim = await store.begin(SCOPE, 'ttl', FP_A, 60_000);
      if (claim.state === 'claimed') return true;
      t.equal(claim.state, 'done', 'done until it expires');
      return false;
    });
  });

  test('of many concurrent claims exactly one wins', async (t, fx) => {
    const stores = [fx.store];
    if (fx.peer !== undefined) stores.push(await fx.peer());
    const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % stores.length]!.begin(SCOPE, 'race', FP_A, 60_000)));
    t.equal(claims.filter((c) => c.state === 'claimed').length, 1);
    t.equal(claims.filter((c) => c.state === 'pending').length, 39);
  });
}
