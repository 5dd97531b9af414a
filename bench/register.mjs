// Lets `node --import ./bench/register.mjs bench/run.ts` run the bench's TypeScript
// without a build step: the hooks in ts-hooks.mjs transpile .ts files on load.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
