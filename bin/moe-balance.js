#!/usr/bin/env node
// Entry point for `npx moe-balance`. In a clone of the repository (src/ is there) the CLI runs from the
// TypeScript sources through tsx, so edits take effect without a build; the installed package carries
// only the compiled dist/ and runs that.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
