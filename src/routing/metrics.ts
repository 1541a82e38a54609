/**
 * Balance and quality metrics (algorithms.md §7).
 *
 *     MaxVio = (max_j load_j − L̄) / L̄      MinVio = (min_j load_j − L̄) / L̄      L̄ = k·n/m (exact, fractional)
 *     AvgMaxVio = mean of MaxVio over steps and layers;  SupMaxVio = its maximum (inferred definitions)
 *     retention = Σ s over chosen pairs / Σ s over a reference routing (plain top-k, or the LP optimum)
 *     expert-parallel step time = Σ_layers max_j load_j / Σ_layers L̄  (a layer waits for its busiest expert)
 *     group (device) MaxVio = (max_g Σ_{j∈g} load_j − k·n/G) / (k·n/G), experts j in G contiguous groups
 *     dropped tokens at a capacity factor f = Σ_j max(0, load_j − ⌈f·k·n/m⌉)  (Megatron's capacity rule)
 */
import { expertCapacity } from './capacityFactor.ts';
import { InputError } from './errors.ts';
import { pairEnd, pairStart } from './ragged.ts';
import { topk } from './topk.ts';
import type { RouteResult } from './types.ts';

/** Tokens per expert from expert ids (n·k ids over m experts). */
export function expertLoads(experts: Int32Array, m: number): Int32Array {
  const loads = new Int32Array(m);
  for (let x = 0; x < experts.length; x++) {
    const j = experts[x];
    if (j < 0 || j >= m) throw new InputError(`expert id ${j} at position ${x} is outside 0..${m - 1}`);
    loads[j]++;
  }
  return loads;
}

function meanLoad(loads: Int32Array, n: number, k: number): number {
  if (loads.length < 1) throw new InputError('loads is empty');
  if (!(n >= 1) || !(k >= 1)) throw new InputError(`metrics need n >= 1 and k >= 1, got n=${n}, k=${k}`);
  return (k * n) / loads.length;
}

/** MaxVio = (max load − L̄) / L̄ (Loss-Free paper, Eq. 4). */
export function maxVio(loads: Int32Array, n: number, k: number): number {
  const mean = meanLoad(loads, n, k);
  let max = -Infinity;
  for (let j = 0; j < loads.length; j++) if (loads[j] > max) max = loads[j];
  return (max - mean) / mean;
}

/** MinVio = (min load − L̄) / L̄; −1 means a dead expert. */
export function minVio(loads: Int32Array, n: number, k: number): number {
  const mean = meanLoad(loads, n, k);
  let min = Infinity;
  for (let j = 0; j < loads.length; j++) if (loads[j] < min) min = loads[j];
  return (min - mean) / mean;
}

/** Mean of MaxVio values (over steps and layers): a BalanceAccumulator's AvgMaxVio over one series. */
export function avgMaxVio(values: ArrayLike<number>): number {
  if (values.length === 0) throw new InputError('avgMaxVio of an empty series');
  return accumulate(values).avgMaxVio;
}

/** Maximum of MaxVio values (over steps and layers): a BalanceAccumulator's SupMaxVio over one series. */
export function supMaxVio(values: ArrayLike<number>): number {
  if (values.length === 0) throw new InputError('supMaxVio of an empty series');
  return accumulate(values).supMaxVio;
}

function accumulate(values: ArrayLike<number>): BalanceAccumulator {
  const acc = new BalanceAccumulator();
  for (let x = 0; x < values.length; x++) acc.add(0, values[x]);
  return acc;
}

/** Σ s_ij over the chosen (token, expert) pairs. */
export function scoreSum(scores: Float32Array, routing: RouteResult): number {
  const { n, m, experts } = routing;
  if (scores.length !== n * m) throw new InputError(`scores has length ${scores.length}, routing is for n*m = ${n * m}`);
  let s = 0;
  for (let i = 0; i < n; i++) for (let a = pairStart(routing, i); a < pairEnd(routing, i); a++) s += scores[i * m + experts[a]];
  return s;
}

/**
 * Score retention: Σ s of the chosen pairs over Σ s of a reference, by default plain top-k (the most any
 * routing can keep). Pass the LP optimum's objective (a number) to measure against perfect balance.
 */
export function retention(scores: Float32Array, routing: RouteResult, reference?: RouteResult | number): number {
  const own = scoreSum(scores, routing);
  const ref =
    typeof reference === 'number'
      ? reference
      : scoreSum(scores, reference ?? topk(scores, routing.n, routing.m, routing.k));
  return ref === 0 ? (own === 0 ? 1 : Infinity) : own / ref;
}

/** Expert-parallel step time: Σ_layers max_j load_j / Σ_layers L̄ (= 1 + the mean MaxVio). */
export function epStepTime(loadsPerLayer: Int32Array[], n: number, k: number): number {
  if (loadsPerLayer.length === 0) throw new InputError('epStepTime of no layers');
  let num = 0;
  let den = 0;
  for (const loads of loadsPerLayer) {
    let max = -Infinity;
    for (let j = 0; j < loads.length; j++) if (loads[j] > max) max = loads[j];
    num += max;
    den += meanLoad(loads, n, k);
  }
  return num / den;
}

/** (token, expert) pairs dropped at a capacity factor: Σ_j max(0, load_j − ⌈factor · k·n/m⌉). */
export function droppedTokens(loads: Int32Array, n: number, k: number, factor: number): number {
  meanLoad(loads, n, k);
  const cap = expertCapacity(n, loads.length, k, factor);
  let d = 0;
  for (let j = 0; j < loads.length; j++) if (loads[j] > cap) d += loads[j] - cap;
  return d;
}

/** Loads of G groups of m/G contiguous experts (a group is a device or node in expert parallelism). */
export function groupLoads(loads: Int32Array, groups: number): Int32Array {
  const m = loads.length;
  if (!Number.isInteger(groups) || groups < 1 || m % groups !== 0) {
    throw new InputError(`groups must be an integer >= 1 dividing m=${m}, got ${groups}`);
  }
  const size = m / groups;
  const out = new Int32Array(groups);
  for (let j = 0; j < m; j++) out[Math.floor(j / size)] += loads[j];
  return out;
}

/** MaxVio over groups: (max group load − k·n/G) / (k·n/G); what an expert-parallel step waits for. */
export function groupMaxVio(loads: Int32Array, groups: number, n: number, k: number): number {
  return maxVio(groupLoads(loads, groups), n, k);
}

/** The running sums behind BalanceAccumulator: plain numbers, so a checkpoint can carry them. */
export interface BalanceTotals {
  /** MaxVio values added, their sum and maximum, over all steps and layers. */
  count: number;
  sum: number;
  sup: number;
  /** The same per layer. */
  layerCount: number[];
  layerSum: number[];
  layerSup: number[];
  /** Σ max_j load_j and Σ mean_j load_j over the (step, layer) routings whose loads were given. */
  maxLoadSum: number;
  meanLoadSum: number;
}

/**
 * Balance statistics over steps × layers, accumulated one (step, layer) routing at a time: AvgMaxVio and
 * SupMaxVio (overall and per layer) and the expert-parallel step time Σ max_j load_j / Σ mean_j load_j.
 * The trainer, the simulator's summary and compare's statistics all count through this one class.
 * Empty statistics are NaN (nothing was measured), never 0.
 */
export class BalanceAccumulator {
  private readonly t: BalanceTotals;

  constructor(totals?: BalanceTotals) {
    this.t = totals
      ? { ...totals, layerCount: [...totals.layerCount], layerSum: [...totals.layerSum], layerSup: [...totals.layerSup] }
      : { count: 0, sum: 0, sup: 0, layerCount: [], layerSum: [], layerSup: [], maxLoadSum: 0, meanLoadSum: 0 };
  }

  /** One layer's routing at one step: its MaxVio, and its loads when known (for the step time). */
  add(layer: number, maxVio: number, loads?: ArrayLike<number>): void {
    if (!Number.isInteger(layer) || layer < 0) throw new InputError(`layer must be an integer >= 0, got ${layer}`);
    const t = this.t;
    // Maxima start at the first value added (not at −Infinity, which JSON cannot carry into a checkpoint).
    if (t.count === 0 || maxVio > t.sup) t.sup = maxVio;
    t.count++;
    t.sum += maxVio;
    while (t.layerCount.length <= layer) {
      t.layerCount.push(0);
      t.layerSum.push(0);
      t.layerSup.push(0);
    }
    if (t.layerCount[layer] === 0 || maxVio > t.layerSup[layer]) t.layerSup[layer] = maxVio;
    t.layerCount[layer]++;
    t.layerSum[layer] += maxVio;
    if (loads !== undefined && loads.length > 0) {
      let max = -Infinity;
      let total = 0;
      for (let j = 0; j < loads.length; j++) {
        total += loads[j];
        if (loads[j] > max) max = loads[j];
      }
      t.maxLoadSum += max;
      t.meanLoadSum += total / loads.length;
    }
  }

  get count(): number {
    return this.t.count;
  }

  /** Mean MaxVio over everything added (NaN when empty). */
  get avgMaxVio(): number {
    return this.t.count > 0 ? this.t.sum / this.t.count : NaN;
  }

  /** Largest MaxVio added (NaN when empty). */
  get supMaxVio(): number {
    return this.t.count > 0 ? this.t.sup : NaN;
  }

  /** AvgMaxVio of each layer 0..L−1 (NaN for a layer never added). */
  get layerAvgMaxVio(): number[] {
    return this.t.layerCount.map((c, l) => (c > 0 ? this.t.layerSum[l] / c : NaN));
  }

  /** SupMaxVio of each layer (NaN for a layer never added). */
  get layerSupMaxVio(): number[] {
    return this.t.layerCount.map((c, l) => (c > 0 ? this.t.layerSup[l] : NaN));
  }

  /** Expert-parallel step time over the routings added with loads (NaN when none). */
  get epStepTime(): number {
    return this.t.meanLoadSum > 0 ? this.t.maxLoadSum / this.t.meanLoadSum : NaN;
  }

  /** A copy of the running sums, for a checkpoint. */
  totals(): BalanceTotals {
    return { ...this.t, layerCount: [...this.t.layerCount], layerSum: [...this.t.layerSum], layerSup: [...this.t.layerSup] };
  }
}
