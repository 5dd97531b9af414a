import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Directories this process holds open: the lock file's pid cannot tell two opens in one process apart. */
const held = new Set<string>();

/**
 * The journal's files in its directory, named by generation (a positive integer):
 *  - `inbox-<gen>.log`: records appended since generation <gen> began;
 *  - `inbox-<gen>.snap`: the state as of the start of <gen>, written by compaction
 *    (first as `inbox-<gen>.snap.tmp`, renamed once complete and synced, so a `.snap`
 *    is always whole);
 *  - `inbox.lock`: the process id of the process that has the journal open.
 * The state is the newest snapshot (none: empty) followed by every log of its
 * generation or later, in generation order.
 */
export const LOCK_FILE = 'inbox.lock';

const NAME = /^inbox-(\d{1,15})\.(log|snap)$/;

export function logName(gen: number): string {
  return `inbox-${gen}.log`;
}

export function snapName(gen: number): string {
  return `inbox-${gen}.snap`;
}

export interface Layout {
  /** Generation of the newest snapshot; 0 when there is none. */
  base: number;
  /** Generations of the logs to read after the snapshot (>= base), ascending. */
  logs: number[];
  /** Files superseded by the snapshot, and leftovers of an interrupted compaction. */
  stale: string[];
}

/** What the directory holds, read from its file names. */
export function readLayout(dir: string): Layout {
  const logs: number[] = [];
  const snaps: number[] = [];
  const stale: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('inbox-') && name.endsWith('.snap.tmp')) {
      stale.push(name);
      continue;
    }
    const m = NAME.exec(name);
    if (!m) continue;
    (m[2] === 'log' ? logs : snaps).push(Number(m[1]));
  }
  const base = snaps.length === 0 ? 0 : Math.max(...snaps);
  for (const gen of snaps) if (gen < base) stale.push(snapName(gen));
  for (const gen of logs) if (gen < base) stale.push(logName(gen));
  return { base, logs: logs.filter((gen) => gen >= base).sort((a, b) => a - b), stale };
}

/** Makes a file's creation, rename or removal in `dir` durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes the directory's lock for this process, or throws when another live process
 * holds it. A lock left by a process that is gone (killed) is taken over.
 */
export function lock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  if (held.has(resolve(dir))) throw new Error(`inbox journal: ${dir} is already open in this process`);
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    held.add(resolve(dir));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = Number(readFileSync(path, 'utf8').trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
    throw new Error(`inbox journal: ${dir} is in use by process ${holder} (${path}); one process at a time may open it`);
  }
  writeFileSync(path, String(process.pid));
  held.add(resolve(dir));
}

export function unlock(dir: string): void {
  held.delete(resolve(dir));
  rmSync(join(dir, LOCK_FILE), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
