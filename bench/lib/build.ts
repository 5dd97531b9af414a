/**
 * Transpiles the parts of the bench that run in child processes (generator workers and
 * peers, with the lib modules they import) to plain JavaScript under bench/.build/.
 * Children then run on bare `node`: no loader thread and no TypeScript compiler in the
 * processes whose CPU and memory the bench measures. Rebuilt on every run (it takes
 * well under a second), each file written atomically, so a stale build never runs.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const BUILD_DIR = join(BENCH_DIR, '.build');
const PARTS = ['gen', 'lib', 'peers'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Builds and returns the output directory. Throws with the file name on a syntax error. */
export function buildChildren(): string {
  for (const part of PARTS) {
    for (const file of sources(join(BENCH_DIR, part))) {
      const out = ts.transpileModule(readFileSync(file, 'utf8'), {
        fileName: file,
        reportDiagnostics: true,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
      if (errors.length > 0) {
        const text = ts.flattenDiagnosticMessageText(errors[0]!.messageText, '\n');
        throw new Error(`cannot transpile ${relative(BENCH_DIR, file)}: ${text}`);
      }
      const dest = join(BUILD_DIR, relative(BENCH_DIR, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(dest), { recursive: true });
      const tmp = `${dest}.${process.pid}.tmp`;
      writeFileSync(tmp, out.outputText);
      renameSync(tmp, dest);
    }
  }
  // The output is ESM whatever package.json above says.
  writeFileSync(join(BUILD_DIR, 'package.json'), '{ "type": "module" }\n');
  return BUILD_DIR;
}
