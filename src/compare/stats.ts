/**
 * The numbers of the compare report, recomputed from the step and eval lines of each run's log (the
 * summary line is used only for wall-clock time, which nothing else records).
 *
 *   MaxVio (per layer, per step) = (max_j load_j − L̄) / L̄, L̄ = mean load; the logged value, or from loads when absent
 *   AvgMaxVio = mean of MaxVio over all steps and layers;  SupMaxVio = max over all steps and layers
 *   expert-parallel step time = Σ_steps,layers max_j load_j / Σ_steps,layers mean_j load_j
 *     (with one expert per device a layer waits for its busiest expert; 1 = perfectly balanced)
 *   perplexity, validation loss = those of the last eval line (summary line when there is none)
 */
import type { RunLog, LayerLine } from './logs.ts';
import { mean, sd } from '../report/format.ts';
import { BalanceAccumulator } from '../routing/metrics.ts';

export interface RunStats {
  method: string;
  seed: number;
  /** Number of distinct steps logged. */
  steps: number;
  /** Last step logged (0 when none). */
  lastStep: number;
  /** The run wrote its summary line. */
  finished: boolean;
  layers: number;
  avgMaxVio: number;
  supMaxVio: number;
  /** AvgMaxVio and SupMaxVio of each layer over all steps. */
  layerAvgMaxVio: number[];
  layerSupMaxVio: number[];
  epStepTime: number;
  valLoss: number;
  perplexity: number;
  /** MaxVio_global per layer at the last eval (loads summed over the validation set). */
  maxVioGlobal: number[];
  /** Wall-clock time of the run from its summary line (NaN while unfinished). */
  wallMs: number;
  /** Σ stepMs: time spent in training steps, without evaluation. */
  trainMs: number;
  meanStepMs: number;
  meanRoutingMs: number;
  meanTokensPerSec: number;
  finalTrainLoss: number;
  /** Means over steps and layers where the log has them (NaN otherwise): share of the n·k pairs dropped
   * over capacity, share of tokens with no expert, and the group MaxVio (mean and max). */
  dropped: number;
  unrouted: number;
  groupAvgMaxVio: number;
  groupSupMaxVio: number;
}

/** MaxVio of one layer line: the logged value, else recomputed from the loads. */
export function layerMaxVio(l: LayerLine): number {
  if (typeof l.maxVio === 'number') return l.maxVio;
  const mu = l.loads.reduce((a, b) => a + b, 0) / l.loads.length;
  return (Math.max(...l.loads) - mu) / mu;
}

/** The statistics of one run. */
export function runStats(method: string, seed: number, log: RunLog): RunStats {
  const nLayers = Math.max(0, ...log.steps.map((s) => s.layers.length));
  const balance = new BalanceAccumulator();
  for (const s of log.steps) s.layers.forEach((l, i) => balance.add(i, layerMaxVio(l), l.loads));
  const lastEval = log.evals.at(-1);
  const lastStep = log.steps.at(-1);
  const fin = (x: number | undefined): number => (typeof x === 'number' && Number.isFinite(x) ? x : NaN);
  return {
    method,
    seed,
    steps: log.steps.length,
    lastStep: lastStep?.step ?? 0,
    finished: log.summary !== undefined,
    layers: nLayers,
    avgMaxVio: balance.avgMaxVio,
    supMaxVio: balance.supMaxVio,
    layerAvgMaxVio: balance.layerAvgMaxVio,
    layerSupMaxVio: balance.layerSupMaxVio,
    epStepTime: balance.epStepTime,
    valLoss: fin(lastEval?.valLoss ?? log.summary?.valLoss),
    perplexity: fin(lastEval?.perplexity ?? log.summary?.perplexity),
    maxVioGlobal: lastEval?.maxVioGlobal ?? [],
    wallMs: fin(log.summary?.wallMs),
    trainMs: log.steps.reduce((a, s) => a + fin(s.stepMs), 0),
    meanStepMs: mean(log.steps.map((s) => s.stepMs)),
    meanRoutingMs: mean(log.steps.map((s) => s.routingMs)),
    meanTokensPerSec: mean(log.steps.map((s) => s.tokensPerSec)),
    finalTrainLoss: fin(lastStep?.loss),
    ...fieldStats(log),
  };
}

/** Dropped share, no-expert share and group MaxVio over every layer line that logs them (NaN when none does). */
function fieldStats(log: RunLog): Pick<RunStats, 'dropped' | 'unrouted' | 'groupAvgMaxVio' | 'groupSupMaxVio'> {
  const layers = log.steps.flatMap((s) => s.layers);
  const values = (f: (l: LayerLine) => number | undefined) => layers.map(f).filter((x): x is number => typeof x === 'number');
  const dropped = values((l) => (l.dropped === undefined ? undefined : l.dropped / (l.dropped + l.loads.reduce((a, b) => a + b, 0))));
  const group = new BalanceAccumulator();
  for (const s of log.steps) s.layers.forEach((l, i) => l.groupMaxVio !== undefined && group.add(i, l.groupMaxVio));
  return {
    dropped: dropped.length > 0 ? mean(dropped) : NaN,
    unrouted: mean(values((l) => l.unrouted)),
    groupAvgMaxVio: group.avgMaxVio,
    groupSupMaxVio: group.supMaxVio,
  };
}

/** Mean, sample sd and the values over seeds of one statistic. */
export interface Spread {
  mean: number;
  sd: number;
  values: number[];
}

export function spread(values: number[]): Spread {
  return { mean: mean(values), sd: sd(values), values };
}

/** The statistics of one method over its seeds. */
export interface MethodStats {
  method: string;
  seeds: number[];
  finished: number;
  perplexity: Spread;
  valLoss: Spread;
  avgMaxVio: Spread;
  supMaxVio: Spread;
  epStepTime: Spread;
  wallMs: Spread;
  trainMs: Spread;
  meanStepMs: Spread;
  meanRoutingMs: Spread;
  /** Mean wall-clock time relative to auxloss's, minus 1 (−0.13 = 13% faster); NaN without auxloss. */
  wallVsAuxloss: number;
  /** Per layer: AvgMaxVio and SupMaxVio averaged over seeds. */
  layerAvgMaxVio: number[];
  layerSupMaxVio: number[];
  maxVioGlobal: number[];
  dropped: Spread;
  unrouted: Spread;
  groupAvgMaxVio: Spread;
  groupSupMaxVio: Spread;
}

function perLayerMean(rows: number[][]): number[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => mean(rows.map((r) => r[i] ?? NaN)));
}

/** Group runs by method (in the order given) and summarise each over its seeds. */
export function methodStats(runs: RunStats[], order: string[]): MethodStats[] {
  const rows = order.map((method) => {
    const rs = runs.filter((r) => r.method === method);
    const pick = (f: (r: RunStats) => number): Spread => spread(rs.map(f));
    return {
      method,
      seeds: rs.map((r) => r.seed),
      finished: rs.filter((r) => r.finished).length,
      perplexity: pick((r) => r.perplexity),
      valLoss: pick((r) => r.valLoss),
      avgMaxVio: pick((r) => r.avgMaxVio),
      supMaxVio: pick((r) => r.supMaxVio),
      epStepTime: pick((r) => r.epStepTime),
      wallMs: pick((r) => r.wallMs),
      trainMs: pick((r) => r.trainMs),
      meanStepMs: pick((r) => r.meanStepMs),
      meanRoutingMs: pick((r) => r.meanRoutingMs),
      wallVsAuxloss: NaN,
      layerAvgMaxVio: perLayerMean(rs.map((r) => r.layerAvgMaxVio)),
      layerSupMaxVio: perLayerMean(rs.map((r) => r.layerSupMaxVio)),
      maxVioGlobal: perLayerMean(rs.map((r) => r.maxVioGlobal)),
      dropped: pick((r) => r.dropped),
      unrouted: pick((r) => r.unrouted),
      groupAvgMaxVio: pick((r) => r.groupAvgMaxVio),
      groupSupMaxVio: pick((r) => r.groupSupMaxVio),
    };
  });
  const aux = rows.find((r) => r.method === 'auxloss');
  for (const r of rows) r.wallVsAuxloss = aux ? r.wallMs.mean / aux.wallMs.mean - 1 : NaN;
  return rows;
}
