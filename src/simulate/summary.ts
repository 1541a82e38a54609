/**
 * Per-method summary of a simulation, computed from the log records alone (so a report rebuilt from
 * log.jsonl shows the same numbers as the run printed):
 * - AvgMaxVio / SupMaxVio: mean / max of MaxVio over all steps and layers.
 * - settledStep: the first step s such that MaxVio < threshold at every step t >= s, on every layer
 *   (the max over layers); null if the last step is still at or above the threshold.
 * - finalMaxVio: mean over layers of MaxVio at the last step.
 * - retention, retentionOpt: means over steps and layers (retentionOpt null when the LP was not solved).
 * - msPerStep: total routing ms / steps (all layers), null when timing was off.
 * - shardBytes, shardRounds: with --shards, the mean over steps and layers of the bytes one shard sent
 *   and of the collectives per route call (null without --shards or for a method without a sharded form).
 * - dropped: mean share of the n·k pairs dropped over capacity; unrouted: mean share of tokens with no
 *   expert; perToken: mean share of tokens with 0..m experts; groupAvgMaxVio / groupSupMaxVio: mean / max
 *   of the group MaxVio. Each null when the method's records do not carry it.
 */
import { MISSING, mean } from '../report/format.ts';
import { markdownTable } from '../report/markdown.ts';
import { BalanceAccumulator } from '../routing/metrics.ts';
import type { StepRecord } from './record.ts';

export interface MethodSummary {
  method: string;
  avgMaxVio: number;
  supMaxVio: number;
  finalMaxVio: number;
  meanMinVio: number;
  settledStep: number | null;
  retention: number;
  retentionOpt: number | null;
  msPerStep: number | null;
  shardBytes: number | null;
  shardRounds: number | null;
  dropped: number | null;
  unrouted: number | null;
  perToken: number[] | null;
  groupAvgMaxVio: number | null;
  groupSupMaxVio: number | null;
}

export function summarize(records: readonly StepRecord[], threshold = 0.1): MethodSummary[] {
  const byMethod = new Map<string, StepRecord[]>();
  for (const r of records) {
    let list = byMethod.get(r.method);
    if (!list) byMethod.set(r.method, (list = []));
    list.push(r);
  }
  const out: MethodSummary[] = [];
  for (const [method, rs] of byMethod) {
    const lastStep = Math.max(...rs.map((r) => r.step));
    // Per layer, the last step at or above the threshold; settled = the step after it.
    const lastBad = new Map<number, number>();
    for (const r of rs) {
      if (!lastBad.has(r.layer)) lastBad.set(r.layer, 0);
      if (r.maxVio >= threshold) lastBad.set(r.layer, Math.max(lastBad.get(r.layer) as number, r.step));
    }
    let settled: number | null = 0;
    for (const bad of lastBad.values()) {
      if (bad === lastStep) settled = null;
      else if (settled !== null) settled = Math.max(settled, bad + 1);
    }
    const opt = rs.filter((r) => r.retentionOpt !== undefined);
    const timed = rs.filter((r) => r.routingMs !== null && r.routingMs !== undefined);
    const steps = new Set(rs.map((r) => r.step)).size;
    const final = rs.filter((r) => r.step === lastStep);
    const sharded = rs.every((r) => r.shardBytes !== undefined);
    const balance = new BalanceAccumulator();
    for (const r of rs) balance.add(r.layer, r.maxVio);
    const group = rs.every((r) => r.groupMaxVio !== undefined) ? new BalanceAccumulator() : null;
    for (const r of rs) group?.add(r.layer, r.groupMaxVio as number);
    out.push({
      method,
      avgMaxVio: balance.avgMaxVio,
      supMaxVio: balance.supMaxVio,
      finalMaxVio: mean(final.map((r) => r.maxVio)),
      meanMinVio: mean(rs.map((r) => r.minVio)),
      settledStep: settled,
      retention: mean(rs.map((r) => r.retention)),
      retentionOpt: opt.length === rs.length && opt.length > 0 ? mean(opt.map((r) => r.retentionOpt as number)) : null,
      msPerStep: timed.length === rs.length && rs.length > 0 ? timed.reduce((a, r) => a + (r.routingMs as number), 0) / steps : null,
      shardBytes: sharded ? mean(rs.map((r) => r.shardBytes as number)) : null,
      shardRounds: sharded ? mean(rs.map((r) => r.shardRounds as number)) : null,
      dropped: meanOf(rs, (r) => r.droppedShare),
      unrouted: meanOf(rs, (r) => r.unrouted),
      perToken: meanHistogram(rs),
      groupAvgMaxVio: group ? group.avgMaxVio : null,
      groupSupMaxVio: group ? group.supMaxVio : null,
    });
  }
  return out;
}

/** Mean of an optional field, null unless every record has it. */
function meanOf(rs: readonly StepRecord[], get: (r: StepRecord) => number | undefined): number | null {
  const xs = rs.map(get);
  return xs.every((x) => x !== undefined) ? mean(xs as number[]) : null;
}

/** Mean share of tokens with 0, 1, ..., m experts (ragged routings), null otherwise. */
function meanHistogram(rs: readonly StepRecord[]): number[] | null {
  if (!rs.every((r) => r.perToken !== undefined)) return null;
  const acc = new Array<number>(rs[0].perToken!.length).fill(0);
  for (const r of rs) {
    const total = r.perToken!.reduce((a, b) => a + b, 0);
    r.perToken!.forEach((c, x) => (acc[x] += c / total / rs.length));
  }
  return acc;
}

/**
 * The summary's header and rows as text cells, shared by the Markdown table and the HTML report. The
 * dropped, no-expert and group columns appear only when some method has them.
 */
export function summaryCells(rows: readonly MethodSummary[], threshold = 0.1): { header: string[]; body: string[][] } {
  const f = (x: number | null, d = 3) => (x === null ? MISSING : x.toFixed(d));
  const pct = (x: number | null) => (x === null ? MISSING : `${(100 * x).toFixed(2)}%`);
  const header = ['method', 'AvgMaxVio', 'SupMaxVio', 'final MaxVio', `steps to MaxVio<${threshold}`, 'retention vs top-k', 'retention vs LP', 'ms/step'];
  const body = rows.map((r) => [
    r.method,
    f(r.avgMaxVio),
    f(r.supMaxVio),
    f(r.finalMaxVio),
    r.settledStep === null ? 'never' : String(r.settledStep),
    f(r.retention, 4),
    f(r.retentionOpt, 4),
    f(r.msPerStep, 2),
  ]);
  const extra: [string, (r: MethodSummary) => string][] = [];
  if (rows.some((r) => r.dropped !== null)) extra.push(['dropped', (r) => pct(r.dropped)]);
  if (rows.some((r) => r.unrouted !== null)) extra.push(['no expert', (r) => pct(r.unrouted)]);
  if (rows.some((r) => r.groupAvgMaxVio !== null)) {
    extra.push(['group AvgMaxVio', (r) => f(r.groupAvgMaxVio)], ['group SupMaxVio', (r) => f(r.groupSupMaxVio)]);
  }
  for (const [name, cell] of extra) {
    header.splice(header.length - 1, 0, name);
    rows.forEach((r, i) => body[i].splice(body[i].length - 1, 0, cell(r)));
  }
  // With --shards: the exchange per shard, per step and layer (one route call).
  if (rows.some((r) => r.shardBytes !== null)) {
    header.push('bytes/shard/call', 'collectives/call');
    rows.forEach((r, x) => body[x].push(f(r.shardBytes, 0), f(r.shardRounds, 1)));
  }
  return { header, body };
}

/** The Markdown summary table printed on stdout (padded, so it also reads as plain text). */
export function summaryTable(rows: readonly MethodSummary[], threshold = 0.1): string {
  const { header, body } = summaryCells(rows, threshold);
  return markdownTable(header, body, ['left', ...header.slice(1).map(() => 'right' as const)]);
}
