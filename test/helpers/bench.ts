/** Runs `bench/run.ts` as a child process, the way `npm run bench` does, for the bench's own tests. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** One scenario × target entry of the bench's JSON report. */
export interface BenchResult {
  scenario: string;
  target: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  figures: Record<string, number | string | boolean | null>;
  details?: { steps?: Array<{ delivered: number }> };
}

export interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Resolves when the bench exits; rejects (after SIGINT to it) when it takes longer than `timeoutMs`. */
export function runBench(args: string[], timeoutMs: number): Promise<BenchRun> {
  // The bench registers its own TypeScript hooks; tap's loader and coverage stay out of its processes.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', './bench/register.mjs', 'bench/run.ts', ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      fail(new Error(`bench did not finish within ${timeoutMs} ms:\n${stderr.slice(-3000)}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}
