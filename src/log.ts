import { pino, type Logger, type LevelWithSilent } from 'pino';

/**
 * The root logger. Modules take a child (`logger.child({ module })`) and connections
 * a grandchild (`{ connId }`). Message bodies are never logged.
 */
export function createLogger(level: LevelWithSilent, name = 'switchboard'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

export type { Logger };
