/**
 * Starting the gateway's entry point in a child process from a test.
 *
 * A fresh build (`dist/main.js` newer than every file under `src/`, which `npm test`
 * guarantees by building first) starts in about a second even on CI's two loaded cores;
 * `src/main.ts` through the TypeScript loader took over 20 s there, because ts-node
 * transpiles every imported file on each start. A missing or stale build falls back to
 * the loader, so running `tap` by hand after an edit still tests the edited code.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, spawnTs } from './ts-child.js';

const BUILT_MAIN = join(REPO_ROOT, 'dist', 'main.js');

/** Newest modification time of any file under `dir` (0 when it has none). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

/** True when dist/main.js exists and no source file changed after it was written. */
export function buildIsFresh(): boolean {
  let built: number;
  try {
    built = statSync(BUILT_MAIN).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  return built >= newestMtime(join(REPO_ROOT, 'src'));
}

/**
 * Spawns the gateway with `args`: `node dist/main.js` when the build is fresh, else
 * `src/main.ts` through the TypeScript loader. Same defaults as spawnTs (cwd = the
 * repository root, stdio = [ignore, pipe, pipe]); the caller owns the child.
 */
export function spawnMain(args: string[], opts: SpawnOptions = {}): ChildProcess {
  if (!buildIsFresh()) return spawnTs('src/main.ts', args, opts);
  return spawn(process.execPath, [BUILT_MAIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
    env: { ...process.env, ...opts.env },
  });
}
