/**
 * README tables recomputed from a committed compare folder (DIR/runs/<method>-s<seed>/log.jsonl), mean ±
 * sample sd over seeds (one value alone when there is one seed):
 *
 *   compare DIR [methods=a,b]          perplexity, AvgMaxVio, SupMaxVio, EP step time, ms / step and its
 *                                      change vs auxloss, wall-clock, routing ms / step and its share
 *   compare-balance DIR [methods=a,b]  the start of training and the worst layer: MaxVio at step 1, SupMaxVio
 *                                      over steps 1..EARLY_STEPS, AvgMaxVio of the worst and the best layer
 *   compare-ablations DIR pairs=v:b,.. each variant against its base (perplexity, AvgMaxVio, SupMaxVio)
 *
 * Definitions in evidence.ts and src/compare/stats.ts.
 */
import { InputError } from '../routing/errors.ts';
import { markdownTable, type Align } from '../report/markdown.ts';
import { fmtMeanSd, fmtPercent, MISSING } from '../report/format.ts';
import type { Spread } from '../compare/stats.ts';
import { compareEvidence, EARLY_STEPS, type MethodEvidence } from './evidence.ts';
import { separate } from './verdicts.ts';

/** The methods asked for (all when undefined), each present in the folder. */
function pickMethods(all: MethodEvidence[], methods: string[] | undefined, dir: string): MethodEvidence[] {
  if (!methods) return all;
  return methods.map((name) => {
    const m = all.find((x) => x.method === name);
    if (!m) throw new InputError(`${dir}: no method '${name}' (has ${all.map((x) => x.method).join(', ')})`);
    return m;
  });
}

/** Spread values scaled (ms to minutes, fractions to %), formatted as mean ± sd. */
const scaled = (s: Spread, f: number, digits: number): string => fmtMeanSd(s.values.map((v) => v * f), digits);

function runsCell(m: MethodEvidence): string {
  if (m.runs.length === 0) return 'none';
  return m.finished === m.runs.length ? String(m.runs.length) : `${m.finished}/${m.runs.length} done`;
}

export function compareTable(dir: string, methods?: string[]): string {
  const all = compareEvidence(dir);
  const rows = pickMethods(all, methods, dir);
  const aux = all.find((m) => m.method === 'auxloss');
  const headers = ['Method', 'Runs', 'Val perplexity', 'AvgMaxVio', 'SupMaxVio', 'EP step time', 'ms / step', 'vs auxloss', 'Wall-clock (min)', 'Routing ms / step', 'Routing share (%)'];
  const body = rows.map((m) => [
    m.method,
    runsCell(m),
    fmtMeanSd(m.perplexity.values, 2),
    fmtMeanSd(m.avgMaxVio.values, 3),
    fmtMeanSd(m.supMaxVio.values, 3),
    fmtMeanSd(m.epStepTime.values, 3),
    fmtMeanSd(m.stepMs.values, 0),
    m === aux ? 'ref.' : aux ? fmtPercent(m.stepMs.mean / aux.stepMs.mean - 1, 1, true) : MISSING,
    scaled(m.wallMs, 1 / 60000, 1),
    fmtMeanSd(m.routingMs.values, 1),
    scaled(m.routingShare, 100, 2),
  ]);
  return markdownTable(headers, body, ['left', ...headers.slice(1).map((): Align => 'right')]);
}

export function balanceTable(dir: string, methods?: string[]): string {
  const rows = pickMethods(compareEvidence(dir), methods, dir);
  const headers = ['Method', 'MaxVio at step 1 (worst layer)', `SupMaxVio, steps 1–${EARLY_STEPS} (worst layer)`, 'AvgMaxVio, worst layer', 'AvgMaxVio, best layer'];
  const body = rows.map((m) => [m.method, fmtMeanSd(m.firstMaxVio.values, 3), fmtMeanSd(m.worstEarlySup.values, 3), fmtMeanSd(m.worstLayerAvg.values, 3), fmtMeanSd(m.bestLayerAvg.values, 3)]);
  return markdownTable(headers, body, ['left', ...headers.slice(1).map((): Align => 'right')]);
}

/** "a ± s vs b ± t", and whether the first is lower or higher beyond the seed spread (verdicts.ts's rule). */
function versus(a: Spread, b: Spread, digits: number): [string, string] {
  const out = separate(a, b);
  return [`${fmtMeanSd(a.values, digits)} vs ${fmtMeanSd(b.values, digits)}`, out === 'overlap' ? 'no' : out];
}

/**
 * compare-ablations DIR pairs=variant:base,...: one row per pair, the variant's perplexity, AvgMaxVio and
 * SupMaxVio against its base's, each with whether they differ beyond the seed spread (lower / higher / no).
 */
export function ablationTable(dir: string, pairs: string[]): string {
  const all = compareEvidence(dir);
  const headers = ['Variant', 'Against', 'Val perplexity', 'beyond spread', 'AvgMaxVio', 'beyond spread', 'SupMaxVio', 'beyond spread'];
  const body = pairs.map((p) => {
    const [variant, base] = p.split(':');
    if (!base) throw new InputError(`pair '${p}' is not VARIANT:BASE`);
    const [v, b] = pickMethods(all, [variant, base], dir);
    return [variant, base, ...versus(v.perplexity, b.perplexity, 2), ...versus(v.avgMaxVio, b.avgMaxVio, 3), ...versus(v.supMaxVio, b.supMaxVio, 3)];
  });
  return markdownTable(headers, body, ['left', 'left', 'right', 'left', 'right', 'left', 'right', 'left']);
}
