/**
 * What a compare folder records about how it was made (DIR/compare.json): the command, the
 * configuration, the methods and seeds, package versions and the machine.
 */
import { cpus, totalmem, platform, arch, release } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonOrUndefined } from '../io/json.ts';

export interface RunRecord {
  name: string;
  /** done: trained now; skipped: already finished; resumed: continued from a checkpoint; failed: non-zero exit; pending: not started (interrupted). */
  status: 'done' | 'skipped' | 'resumed' | 'failed' | 'pending';
  exitCode?: number;
  ms?: number;
  /** Most runs in progress at once while this one ran (1 = it had the machine to itself, as far as compare knows). */
  concurrent?: number;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  arch: string;
  osRelease: string;
  totalMemGiB: number;
}

export interface CompareMeta {
  command: string;
  cwd: string;
  config: { path: string; values: unknown };
  methods: string[];
  seeds: number[];
  steps: number;
  evalEvery?: number;
  jobs: number;
  set: string[];
  preset?: string;
  versions: Record<string, string>;
  machine: MachineInfo;
  startedAt: string;
  endedAt?: string;
  runs: RunRecord[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cores: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: platform(),
    arch: arch(),
    osRelease: release(),
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

const readJson = (file: string): Record<string, unknown> | undefined => readJsonOrUndefined(file) as Record<string, unknown> | undefined;

/**
 * Versions of the package (from ROOT/package.json) and of each of its dependencies as installed
 * (ROOT/node_modules/<name>/package.json), so a report says exactly what ran.
 */
export function packageVersions(root: string): Record<string, string> {
  const pkg = readJson(join(root, 'package.json'));
  if (!pkg) return {};
  const out: Record<string, string> = { [String(pkg.name ?? 'package')]: String(pkg.version ?? '?') };
  const deps = { ...(pkg.dependencies as Record<string, string> | undefined), ...(pkg.devDependencies as Record<string, string> | undefined) };
  for (const name of Object.keys(deps).sort()) {
    if (name.startsWith('@types/') || name.startsWith('@eslint/') || name.startsWith('eslint') || name.startsWith('typescript-eslint')) continue;
    const installed = readJson(join(root, 'node_modules', name, 'package.json'));
    out[name] = installed ? String(installed.version) : `${deps[name]} (not installed)`;
  }
  return out;
}

/** DIR/compare.json, or undefined when absent or unreadable. */
export function readCompareMeta(dir: string): CompareMeta | undefined {
  const file = join(dir, 'compare.json');
  return existsSync(file) ? (readJson(file) as CompareMeta | undefined) : undefined;
}
