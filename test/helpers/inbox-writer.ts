/**
 * Child process for test/contract/inbox-crash.test.ts (run through spawnTs).
 *
 *   inbox-writer.ts <engine> <dir> <users> <perUser>
 *
 * Opens the durable inbox <engine> (lmdb | journal) at <dir> and appends perUser entries to each of users users
 * (`user0`..), 16 appends in flight at a time, round-robin over users. Each append
 * (with a de-duplication record under its mid) that RESOLVED is printed as one line `<user> <seq> <mid>`: the test's proof that the
 * inbox acknowledged it. After the last one it prints `done`. Meanwhile, from the
 * start and until it is killed, 4 more loops append to `noise` (printed the same
 * way). Exits by itself after 30 s if nobody kills it.
 */
import { openDurableInbox } from './durable-inbox.js';
const DEDUP_TTL_MS = 3_600_000;
const IN_FLIGHT = 16;
const NOISE_IN_FLIGHT = 4;

async function main(): Promise<void> {
  const [engine, dir, usersArg, perUserArg] = process.argv.slice(2);
  const users = Number(usersArg);
  const perUser = Number(perUserArg);
  if (!engine || !dir || !Number.isInteger(users) || !Number.isInteger(perUser)) {
    throw new Error('usage: inbox-writer.ts <engine> <dir> <users> <perUser>');
  }
  setTimeout(() => process.exit(2), 30_000);
  // The reader is gone (parent died or stopped reading): nothing left to prove, stop.
  process.stdout.on('error', () => process.exit(3));
  const inbox = await openDurableInbox(engine, dir);

  const append = async (user: string, mid: string): Promise<void> => {
    // Every append carries a de-duplication record (key = mid), written in its transaction.
    const { seq } = await inbox.append(user, { mid, from: 'writer', to: user, content: { mid }, timestamp: Date.now() },
      { dedup: { key: mid, ttlMs: DEDUP_TTL_MS } });
    process.stdout.write(`${user} ${seq} ${mid}\n`);
  };

  // Noise runs alongside from the start and never stops, so the kill always lands
  // while transactions are in flight.
  let noise = 0;
  const noiseWorker = async (): Promise<void> => {
    for (;;) await append('noise', `n${noise++}`);
  };
  for (let i = 0; i < NOISE_IN_FLIGHT; i++) void noiseWorker();

  let next = 0;
  const total = users * perUser;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await append(`user${i % users}`, `m${i}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  process.stdout.write('done\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`writer failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
