/**
 * Running a TypeScript file in a child Node process from a test, without a build.
 *
 * The recipe (Node 20, this repo: ESM, module NodeNext):
 *
 *     node --import <file URL of @tapjs/typescript/import> path/to/file.ts ...args
 *     env: TS_NODE_TRANSPILE_ONLY=1, TS_NODE_PROJECT=<repo>/tsconfig.json
 *
 * - `@tapjs/typescript/import` is the very hook tap's TypeScript plugin preloads into
 *   every test process. On Node < 22 it registers ts-node's ESM loader (the
 *   `@isaacs/ts-node-temp-fork-for-pr-2009/import` fork, which uses `module.register`,
 *   so `--import` works; `--loader` is not needed and prints warnings). When tap runs
 *   with TAP_TYPE_STRIP_ONLY=1 (Node >= 22) it does nothing and Node's own type
 *   stripping, switched on through NODE_OPTIONS by tap, does the job.
 * - It is passed as an absolute file URL (resolved here with import.meta.resolve),
 *   so the child works from any cwd; a bare `--import @tapjs/typescript/import` only
 *   resolves when the child's cwd is the repository root.
 * - TS_NODE_TRANSPILE_ONLY=1 makes ts-node strip types without type checking
 *   (type checking every child start would take seconds; `npx tsc` checks types).
 *   tap sets it in the test process already; setting it here makes the helper also
 *   work from plain scripts. TS_NODE_PROJECT pins the tsconfig.
 * - Imports inside the child use the same `.js` suffixes as the sources: ts-node maps
 *   `./x.js` to `./x.ts`.
 * - Startup costs about a second (ts-node transpiles each imported .ts file), so
 *   start children once per test, not per assertion.
 * - The child's stdout is a pipe; on Linux process.stdout writes to a pipe are
 *   synchronous, so a line the child printed before it was SIGKILLed is not lost.
 *
 * Example:
 *
 *     const child = spawnTs('test/helpers/inbox-writer.ts', ['journal', dir]);
 *     t.teardown(() => { child.kill('SIGKILL'); });
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file is test/helpers/ts-child.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** File URL of the TypeScript loader hook to pass to `node --import`. */
export const TS_IMPORT_HOOK = import.meta.resolve('@tapjs/typescript/import');

/**
 * Node arguments that run a TypeScript entry point: `[...tsExecArgv, file, ...args]`.
 * Also usable as `execArgv` for `child_process.fork` or `new Worker(file, { execArgv })`
 * (together with tsChildEnv()).
 */
export const tsExecArgv: readonly string[] = ['--import', TS_IMPORT_HOOK];

/** The environment a TypeScript child needs, on top of `base` (default: this process's). */
export function tsChildEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    TS_NODE_TRANSPILE_ONLY: '1',
    TS_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json'),
  };
}

/**
 * Spawns `node <ts loader> <file> ...args`. `file` is absolute or relative to the
 * repository root. Defaults: cwd = repository root, stdio = [ignore, pipe, pipe],
 * env = this process's env plus the TypeScript settings (`opts.env` entries are
 * added on top of process.env, not instead of it). The caller owns the child: kill
 * it in a teardown.
 */
export function spawnTs(file: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
  const entry = isAbsolute(file) ? file : join(REPO_ROOT, file);
  return spawn(process.execPath, [...tsExecArgv, entry, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
    env: tsChildEnv({ ...process.env, ...opts.env }),
  });
}
