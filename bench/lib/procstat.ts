/**
 * CPU time and memory of a process, read from /proc (Linux only). Used for the server
 * under test and for the generator processes alike, so both are measured the same way.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const n = Number(out);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`getconf CLK_TCK gave ${JSON.stringify(out)}`);
    ticksPerSecond = n;
  }
  return ticksPerSecond;
}

/** User + system CPU time of `pid` in microseconds (resolution: one clock tick, usually 10 ms). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return ((utime + stime) * 1e6) / clockTicks();
}

/** Resident set size of `pid` in KiB (VmRSS). */
export function rssKB(pid: number): number {
  return statusKB(pid, ['VmRSS'])[0]!;
}

/** Resident memory of a process in KiB, and its two parts (/proc/PID/status). */
export interface MemoryKB {
  /** VmRSS. */
  rss: number;
  /** RssAnon: process-private memory (heap, stacks, malloc): what a leak grows. */
  anon: number;
  /** RssFile: pages of mapped files resident now (LMDB maps, code); the kernel may reclaim them. */
  file: number;
}

export function memoryKB(pid: number): MemoryKB {
  const [rss, anon, file] = statusKB(pid, ['VmRSS', 'RssAnon', 'RssFile']);
  return { rss: rss!, anon: anon!, file: file! };
}

/** The named `<name>: <n> kB` fields of /proc/PID/status, read in one go; throws when one is missing. */
function statusKB(pid: number, names: readonly string[]): number[] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return names.map((name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
    if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  });
}

/** Sum of cpuMicros over processes; a process that has exited is skipped (its last value is the caller's business). */
export function totalCpuMicros(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuMicros(pid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return sum;
}
