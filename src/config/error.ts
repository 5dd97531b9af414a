/**
 * A configuration problem. The message is one line, starts with "config: " and is meant
 * to be printed to the operator as is (main prints it without a stack and exits 1).
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message.startsWith('config: ') ? message : `config: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Where a value came from, for messages: its key path, and the variable when it came from the environment. */
export interface At {
  /** Key path as written in YAML, e.g. "Limits.RateLimit.Burst" or "Groups.Open[2]". */
  readonly path: string;
  /** The environment variable that set the value, if any. */
  readonly env?: string | undefined;
  /** The value is a credential: messages describe it but never echo it. */
  readonly secret?: boolean | undefined;
}

/** A short description of a raw value for "got ...": strings quoted, secrets hidden. */
export function describe(raw: unknown, secret = false): string {
  if (raw === null || raw === undefined) return 'an empty value';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'a mapping';
  if (secret) return typeof raw === 'string' ? `a hidden value of ${Buffer.byteLength(raw)} bytes` : 'a hidden value';
  if (typeof raw === 'string') return JSON.stringify(raw);
  return String(raw);
}

/** The error for a value that does not fit: `config: <path>: got <value>[ from <ENV>], expected <expected>`. */
export function invalid(at: At, raw: unknown, expected: string): ConfigError {
  const from = at.env === undefined ? '' : ` from ${at.env}`;
  return new ConfigError(`${at.path}: got ${describe(raw, at.secret)}${from}, expected ${expected}`);
}

/** The reason part of "cannot read <path>: <reason>", short and without a stack. */
export function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory, expected a file';
    case 'ENOTDIR': return 'a parent of the path is not a directory';
    default: return err instanceof Error ? err.message.split('\n')[0]! : String(err);
  }
}
