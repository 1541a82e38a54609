#!/usr/bin/env node
// Entry point for `npx moe-balance`: load the TypeScript sources through tsx, then run the CLI.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
