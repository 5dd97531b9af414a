import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { TEST_SECRET } from './tokens.js';
import { spawnMain } from './main-child.js';
import { tempDir } from './gateway.js';

/**
 * How long a gateway process may take to log `listening`. Generous: without a fresh
 * build it runs through the TypeScript loader, which took over 40 s on CI's two cores
 * while other test files ran; the wait ends as soon as the line comes.
 */
const START_TIMEOUT_MS = 90_000;

export interface GatewayProcess {
  child: ChildProcess;
  port: number;
  url: string;
  httpUrl: string;
  /** Every JSON log line the process wrote so far. */
  logs: Record<string, unknown>[];
  stderr: string[];
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the gateway (dist/main.js when fresh, see main-child.ts) as a real gateway process with a YAML config built from
 * `settings` (YAML key names; loopback, port 0 and the test secret by default) and
 * resolves once it logs `listening`. Killed at teardown if still running.
 */
export async function spawnGateway(
  t: { teardown(fn: () => unknown): void },
  settings: Record<string, unknown> = {},
  opts: { timeoutMs?: number } = {},
): Promise<GatewayProcess> {
  const dir = tempDir(t, 'switchboard-proc-');
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify({ Host: '127.0.0.1', Port: 0, Auth: { Secret: TEST_SECRET }, Log: { Level: 'info' }, Monitor: { Enable: false }, ...settings }));
  const child = spawnMain(['--config', file]);
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within ${opts.timeoutMs ?? START_TIMEOUT_MS} ms: ${stderr.join('\n')}`)), opts.timeoutMs ?? START_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // Not a log line (a stray write by a dependency): keep it readable for failures.
        stderr.push(line);
        return;
      }
      logs.push(entry);
      if (entry['msg'] === 'listening') {
        clearTimeout(timer);
        resolve(entry['port'] as number);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening: ${stderr.join('\n')}`));
    });
  });
  return { child, port, url: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}`, logs, stderr, exited };
}
