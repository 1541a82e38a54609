/**
 * Per-run and per-method numbers of a compare folder beyond the report's (src/compare/stats.ts), for the
 * README's evidence tables and verdicts, all from runs/*\/log.jsonl:
 *
 *   step ms             = mean over steps of stepMs (training time per step, evaluation excluded; comparable
 *                         between runs of different lengths, = Σ stepMs / steps)
 *   routing ms / step   = median over steps of routingMs (the balancer's time inside the step)
 *   routing share       = median over steps of routingMs / stepMs
 *   first-step MaxVio   = max over layers of MaxVio at step 1
 *   early SupMaxVio     = per layer, max of MaxVio over steps 1..EARLY_STEPS (the claim "from the first step")
 *
 * Medians, not means: on a shared machine a few steps are slowed by other processes. Each method's value
 * is then the mean ± sample sd of the runs' values over seeds (spread(), as in the report).
 */
import type { RunLog } from '../compare/logs.ts';
import { layerMaxVio, spread, type RunStats, type Spread } from '../compare/stats.ts';
import { loadCompareFolder } from '../compare/report.ts';
import { median } from '../report/format.ts';

/** Steps counted as "the start of training" for the early SupMaxVio. */
export const EARLY_STEPS = 10;

export interface RunEvidence {
  stats: RunStats;
  routingMs: number;
  routingShare: number;
  firstMaxVio: number;
  earlySup: number[];
}

export interface MethodEvidence {
  method: string;
  runs: RunEvidence[];
  finished: number;
  perplexity: Spread;
  avgMaxVio: Spread;
  supMaxVio: Spread;
  epStepTime: Spread;
  /** Mean training-step time (stepMs, without evaluation): with equal step counts, training time / steps. */
  stepMs: Spread;
  wallMs: Spread;
  routingMs: Spread;
  routingShare: Spread;
  firstMaxVio: Spread;
  /** Over seeds: the worst (highest) layer's early SupMaxVio and AvgMaxVio, and the best layer's AvgMaxVio. */
  worstEarlySup: Spread;
  worstLayerAvg: Spread;
  bestLayerAvg: Spread;
  /** Per layer, over seeds. */
  layerAvg: Spread[];
  layerEarlySup: Spread[];
}

function runEvidence(stats: RunStats, log: RunLog): RunEvidence {
  const first = log.steps.find((s) => s.step === 1);
  const early = log.steps.filter((s) => s.step <= EARLY_STEPS);
  const earlySup = Array.from({ length: stats.layers }, (_, i) => Math.max(...early.map((s) => (s.layers[i] ? layerMaxVio(s.layers[i]) : -Infinity))));
  return {
    stats,
    routingMs: median(log.steps.map((s) => s.routingMs)),
    routingShare: median(log.steps.map((s) => s.routingMs / s.stepMs)),
    firstMaxVio: first ? Math.max(...first.layers.map(layerMaxVio)) : NaN,
    earlySup: earlySup.map((v) => (Number.isFinite(v) ? v : NaN)),
  };
}

function perLayer(runs: RunEvidence[], pick: (r: RunEvidence) => number[]): Spread[] {
  const n = Math.max(0, ...runs.map((r) => pick(r).length));
  return Array.from({ length: n }, (_, i) => spread(runs.map((r) => pick(r)[i] ?? NaN)));
}

function methodEvidence(method: string, runs: RunEvidence[]): MethodEvidence {
  const s = (f: (r: RunEvidence) => number): Spread => spread(runs.map(f));
  return {
    method,
    runs,
    finished: runs.filter((r) => r.stats.finished).length,
    perplexity: s((r) => r.stats.perplexity),
    avgMaxVio: s((r) => r.stats.avgMaxVio),
    supMaxVio: s((r) => r.stats.supMaxVio),
    epStepTime: s((r) => r.stats.epStepTime),
    stepMs: s((r) => r.stats.meanStepMs),
    wallMs: s((r) => r.stats.wallMs),
    routingMs: s((r) => r.routingMs),
    routingShare: s((r) => r.routingShare),
    firstMaxVio: s((r) => r.firstMaxVio),
    worstEarlySup: s((r) => Math.max(...r.earlySup)),
    worstLayerAvg: s((r) => Math.max(...r.stats.layerAvgMaxVio)),
    bestLayerAvg: s((r) => Math.min(...r.stats.layerAvgMaxVio)),
    layerAvg: perLayer(runs, (r) => r.stats.layerAvgMaxVio),
    layerEarlySup: perLayer(runs, (r) => r.earlySup),
  };
}

/** Every method of a compare folder, in compare.json's order, with its runs' evidence. */
export function compareEvidence(dir: string): MethodEvidence[] {
  const { loaded, methods } = loadCompareFolder(dir);
  return methods.map((m) =>
    methodEvidence(
      m,
      loaded.filter((r) => r.stats.method === m).sort((a, b) => a.stats.seed - b.stats.seed).map((r) => runEvidence(r.stats, r.log)),
    ),
  );
}
