import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, type Config } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import type { Engines } from '../../src/engine/engines.js';
import { createLogger } from '../../src/log.js';
import { TEST_SECRET } from './tokens.js';

type Tree = { [key: string]: unknown };

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)
      ? merge(b as Tree, v as Tree)
      : v;
  }
  return out;
}

/**
 * A config for tests: loopback, port 0, memory engines, silent logs; `overrides` uses
 * the YAML key names and is merged in, except `Auth`, which replaces the default whole
 * (the key kinds are mutually exclusive).
 */
export function testConfig(overrides: Tree = {}): Config {
  const base: Tree = {
    Host: '127.0.0.1',
    Port: 0,
    Auth: { Secret: TEST_SECRET },
    Offline: { Engine: 'memory' },
    Log: { Level: process.env['TEST_LOG_LEVEL'] ?? 'silent' },
    Monitor: { Enable: false },
    Limits: { RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } },
  };
  const merged = merge(base, overrides);
  if (overrides['Auth'] !== undefined) merged['Auth'] = overrides['Auth'];
  return loadConfig({ text: stringify(merged), env: {} });
}

export interface StartedGateway {
  gateway: Gateway;
  url: string;
  httpUrl: string;
  config: Config;
}

/** Starts a gateway in this process; stops it when the test ends. */
export async function startGateway(
  t: { teardown(fn: () => unknown): void },
  overrides: Tree = {},
  engines?: Engines,
): Promise<StartedGateway> {
  const config = testConfig(overrides);
  const gateway = await Gateway.start({ config, log: createLogger(config.log.level), ...(engines ? { engines } : {}) });
  t.teardown(() => gateway.stop());
  const scheme = config.tls === undefined ? '' : 's';
  return {
    gateway,
    config,
    url: `ws${scheme}://127.0.0.1:${gateway.port}${config.server.path}`,
    httpUrl: `http${scheme}://127.0.0.1:${gateway.port}`,
  };
}

/** A fresh temporary directory removed at teardown. */
export function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'switchboard-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
