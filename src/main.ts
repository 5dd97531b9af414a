#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, parseArgs } from './config.js';
import { Gateway } from './gateway.js';
import { createLogger } from './log.js';

/**
 * Process entry: `switchboard [--config FILE]` (default ./config.yaml). Exit codes:
 * 0 after a graceful stop, 1 when start-up fails (one clear line on stderr), 2 for
 * a configuration error.
 */
/** The secret shipped in config.yaml so that `npm start` works out of the box. */
const DEV_SECRET = 'change-me-dev-secret-at-least-32-bytes!!';
/** The API key shipped in config.yaml for the same reason. */
const DEV_API_KEY = 'dev-api-key-change-me-0123456789';

const HELP = `usage: switchboard [--config FILE]

Real-time WebSocket gateway. Reads FILE (default ./config.yaml); SWITCHBOARD_*
environment variables override its keys (SWITCHBOARD_LIMITS__MAXCONNPERIP=50).

options:
  --config FILE   configuration file (documented keys: config.yaml in the package)
  --help, -h      print this help and exit
  --version, -v   print the version and exit

SIGTERM or SIGINT stops it gracefully: clients get close 1012, then it exits 0.
Exit codes: 0 stopped, 1 start-up failed, 2 configuration error.
`;

/** The package's version, read from the package.json next to src/ or dist/. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

async function main(): Promise<void> {
  let config;
  try {
    const args = parseArgs(process.argv.slice(2));
    if (args.help === true) {
      process.stdout.write(HELP);
      return;
    }
    if (args.version === true) {
      process.stdout.write(`switchboard ${version()}\n`);
      return;
    }
    const { configFile } = args;
    config = loadConfig({ file: configFile ?? 'config.yaml', env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const log = createLogger(config.log.level, config.server.name);
  if (config.auth.secret === DEV_SECRET) {
    log.warn('Auth.Secret is the public development secret from config.yaml: anyone can sign tokens. Set SWITCHBOARD_AUTH__SECRET in production.');
  }
  if (config.http.enable && config.http.apiKeys.includes(DEV_API_KEY)) {
    log.warn('Http.ApiKeys contains the public development key from config.yaml: anyone can call the HTTP API. Set SWITCHBOARD_HTTP__APIKEYS in production.');
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      config, log, allowFallback: process.env['SWITCHBOARD_ALLOW_UWS_FALLBACK'] === '1', devSecret: config.auth.secret === DEV_SECRET,
    });
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    process.stderr.write(`switchboard: ${err instanceof Error ? err.message : String(err)}\n`);
    log.flush();
    process.exit(1);
  }

  let signalled = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'stopping');
    gateway.stop().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Reload what can change without a restart (the content filter's word list); connections stay.
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'reloading the content filter word list');
    gateway.reloadFilter();
  });
}

void main();
