/**
 * Configuration loading. Precedence, lowest first: built-in defaults < the YAML file
 * < SWITCHBOARD_* environment variables. The result is checked as a whole and deeply
 * frozen; any problem is a ConfigError whose message is one line for the operator.
 *
 * The key table is in config/schema.ts, the slice types in config/types.ts, the file
 * and environment layers in config/sources.ts, cross-key rules in config/checks.ts.
 * config.yaml at the repository root documents every key.
 */
import { ConfigError } from './config/error.js';
import { finish } from './config/checks.js';
import { RawTree, readYaml } from './config/sources.js';
import type { Config, ServerConfig } from './config/types.js';

export { ConfigError } from './config/error.js';
export { ENV_PREFIX, NON_CONFIG_ENV } from './config/sources.js';
export { parseDuration, parseSize, formatDuration, formatSize } from './config/values.js';
export * from './config/types.js';

export interface LoadOptions {
  /** Path of the YAML file. Relative paths, here and inside the file, are relative to the working directory. */
  readonly file?: string | undefined;
  /** YAML text to use instead of reading `file` (tests); `file`, if also given, only names it in messages. */
  readonly text?: string | undefined;
  /** Environment to read SWITCHBOARD_* variables from. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/**
 * Loads, checks and freezes the configuration. With neither `file` nor `text`, only
 * defaults and the environment apply. Auth must name a key (Secret, PublicKeyFile or
 * JwksFile); key and TLS files are read or checked now.
 * @throws ConfigError — the first problem found, as one line.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const tree = new RawTree();
  if (opts.file !== undefined || opts.text !== undefined) {
    const name = opts.file ?? '<text>';
    tree.addYaml(readYaml(name, opts.text), name);
  }
  tree.addEnv(opts.env ?? process.env);
  return deepFreeze(finish(tree.build(), { requireAuthKey: true }));
}

/**
 * The built-in defaults, deeply frozen, ignoring files and the environment. Not a config
 * that loadConfig would accept: it names no auth key (auth.secret is undefined). Useful as
 * a base for tests: `{ ...defaultConfig().limits, maxConnPerUser: 2 }`.
 */
export function defaultConfig(): Config {
  return deepFreeze(finish(new RawTree().build(), { requireAuthKey: false }));
}

/** What the command line asks for. `help` and `version` win over everything else. */
export interface Args {
  configFile?: string;
  /** `--help` / `-h`: print usage and exit 0. */
  help?: true;
  /** `--version` / `-v`: print the version and exit 0. */
  version?: true;
}

/**
 * Command-line options: `--config FILE` or `--config=FILE`, `--help`, `--version`
 * (argv without node and the script, i.e. process.argv.slice(2)). Anything else is a
 * ConfigError. With `--help` or `--version` the rest is not checked, as operators
 * expect of any command.
 */
export function parseArgs(argv: readonly string[]): Args {
  const usage = 'usage: switchboard [--config FILE]';
  if (argv.some((a) => a === '--help' || a === '-h')) return { help: true };
  if (argv.some((a) => a === '--version' || a === '-v')) return { version: true };
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let value: string | undefined;
    if (arg === '--config') {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new ConfigError(`--config needs a file name (${usage})`);
    } else if (arg.startsWith('--config=')) {
      value = arg.slice('--config='.length);
      if (value === '') throw new ConfigError(`--config needs a file name (${usage})`);
    } else {
      throw new ConfigError(`${arg.startsWith('-') ? 'unknown option' : 'unexpected argument'} ${JSON.stringify(arg)} (${usage})`);
    }
    if (configFile !== undefined) throw new ConfigError(`--config given more than once (${usage})`);
    configFile = value;
  }
  return configFile === undefined ? {} : { configFile };
}

/**
 * The uWS idleTimeout (whole seconds) for a ReadTimeout: rounded up, so a connection is
 * never closed before ReadTimeout has passed, and clamped into 8..960 because uWS refuses
 * other values except 0 (which would disable the timeout, something ReadTimeout cannot ask
 * for). A ReadTimeout under 8s therefore acts as 8s.
 */
export function idleTimeoutSeconds(server: Pick<ServerConfig, 'readTimeout'>): number {
  return Math.min(960, Math.max(8, Math.ceil(server.readTimeout / 1000)));
}

/** Freezes an object graph in place; returns it typed as is. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
