import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { GroupHistory } from '../../src/engine/history.js';
import { LmdbGroupHistory } from '../../src/engine/lmdb/history.js';
import { MemoryGroupHistory } from '../../src/engine/memory/history.js';
import { historyContract } from './history.contract.js';

historyContract(t, 'memory', async (clock) => {
  let history = new MemoryGroupHistory(clock);
  return {
    history,
    // A new process: the memory engine loses everything.
    wipe: async () => {
      await history.close();
      history = new MemoryGroupHistory(clock);
      return history;
    },
    cleanup: () => history.close(),
  };
});

historyContract(t, 'lmdb', async (clock) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-history-'));
  let current: GroupHistory = await LmdbGroupHistory.open({ path: dir }, clock);
  return {
    history: current,
    reopen: async () => {
      await current.close();
      current = await LmdbGroupHistory.open({ path: dir }, clock);
      return current;
    },
    wipe: async () => {
      await current.close();
      rmSync(dir, { recursive: true, force: true });
      current = await LmdbGroupHistory.open({ path: dir }, clock);
      return current;
    },
    cleanup: async () => {
      await current.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
