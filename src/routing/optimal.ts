/**
 * The exact optimum of the BIP (algorithms.md §1), solved as an LP with HiGHS (the `highs` package).
 *
 *     maximise Σ_ij s_ij x_ij   s.t.   Σ_j x_ij = k (each token),   Σ_i x_ij ≤ c = ⌈k·n/m⌉ (each expert),
 *                                     0 ≤ x_ij ≤ 1
 *
 * The constraint matrix is that of a bipartite b-matching (totally unimodular), so a basic optimal
 * solution is integral: the LP gives the BIP optimum. We check that and fail loudly otherwise.
 * Each token gets exactly k experts (equality rather than the paper's ≤ k, so the result is a routing;
 * n·k ≤ m·c makes it feasible). This is the ceiling for score retention at perfect balance.
 *
 * Size limit: n·m ≤ 1,000,000 variables (measured here: 1M variables take ~11 s and 1.7 GB; 2M abort
 * on the 2 GiB wasm heap). Larger instances get a clear error.
 */
import type { Highs } from 'highs';
import { capacity, writeWeights } from './assign.ts';
import { InputError } from './errors.ts';
import { checkEmptyState, validateRouteInput } from './validate.ts';
import type { Balancer, BalancerState, RouteResult } from './types.ts';

export const OPTIMAL_MAX_VARIABLES = 1_000_000;

export type Solver = Highs;

/** Loads the HiGHS wasm module (async, once per process; pass the result around). */
export async function loadSolver(): Promise<Solver> {
  // Imported on first use, not at module load: the balancers' entry point has no Node-only import and
  // loads in a browser, where this package's bare name resolves only if the page maps it. highs ships an
  // ESM build whose default export is the loader.
  const mod = (await import('highs')) as unknown as { default: () => Promise<Solver> };
  return mod.default();
}

export interface OptimalResult {
  routing: RouteResult;
  /** Σ s_ij x_ij at the optimum. */
  objective: number;
  /** Solver wall time, ms. */
  solveMs: number;
}

/**
 * Solves one batch exactly. Blocks the event loop for the duration of the solve. `allowed` (n·m, 1 =
 * the pair may be chosen) fixes every other x_ij at 0: the LP of a masked routing (group-limited).
 */
export function solveOptimal(solver: Solver, scores: Float32Array, n: number, m: number, k: number, allowed: Uint8Array | null = null): OptimalResult {
  validateRouteInput(scores, n, m, k);
  const nv = n * m;
  if (nv > OPTIMAL_MAX_VARIABLES) {
    throw new InputError(`optimal: n*m = ${nv} variables exceeds the LP solver's limit of ${OPTIMAL_MAX_VARIABLES} (the wasm heap is 2 GiB); use a smaller batch`);
  }
  const c = capacity(n, m, k);
  const inf = solver.infinity;
  // Column i*m + j is x_ij; it appears in row i (token) and row n + j (expert), coefficient 1.
  const starts = new Int32Array(nv + 1);
  const indices = new Int32Array(2 * nv);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const v = i * m + j;
      starts[v] = 2 * v;
      indices[2 * v] = i;
      indices[2 * v + 1] = n + j;
    }
  }
  starts[nv] = 2 * nv;
  const rowLower = new Float64Array(n + m);
  const rowUpper = new Float64Array(n + m);
  for (let i = 0; i < n; i++) {
    rowLower[i] = k;
    rowUpper[i] = k;
  }
  for (let j = 0; j < m; j++) {
    rowLower[n + j] = -inf;
    rowUpper[n + j] = c;
  }
  const t0 = performance.now();
  const x = solver.withModel((model) => {
    model.options.set('output_flag', false);
    model.passModel({
      numCols: nv,
      numRows: n + m,
      sense: solver.constants.objectiveSense.maximize,
      colCost: Float64Array.from(scores),
      colLower: new Float64Array(nv),
      colUpper: allowed === null ? new Float64Array(nv).fill(1) : Float64Array.from(allowed, (a) => (a ? 1 : 0)),
      rowLower,
      rowUpper,
      matrix: { format: 'csc', numRows: n + m, numCols: nv, starts, indices, values: new Float64Array(2 * nv).fill(1) },
    });
    model.run();
    const status = model.getModelStatus();
    if (status !== solver.constants.modelStatus.optimal) throw new Error(`optimal: HiGHS did not reach an optimum (model status ${status})`);
    return model.getSolution().colValue;
  });
  const solveMs = performance.now() - t0;

  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const loads = new Int32Array(m);
  let objective = 0;
  const chosen: number[] = [];
  for (let i = 0; i < n; i++) {
    chosen.length = 0;
    for (let j = 0; j < m; j++) {
      const v = x[i * m + j];
      // Total unimodularity makes the basic optimum integral; anything else is a solver problem.
      if (Math.abs(v) > 1e-6 && Math.abs(v - 1) > 1e-6) {
        throw new Error(`optimal: LP solution is not integral (x[${i},${j}] = ${v})`);
      }
      if (v > 0.5) chosen.push(j);
    }
    if (chosen.length !== k) throw new Error(`optimal: token ${i} got ${chosen.length} experts, expected ${k}`);
    // Present in decreasing score order, like every other balancer.
    chosen.sort((a, b) => scores[i * m + b] - scores[i * m + a] || a - b);
    for (let t = 0; t < k; t++) {
      const j = chosen[t];
      experts[i * k + t] = j;
      loads[j]++;
      objective += scores[i * m + j];
    }
    writeWeights(scores, i, m, k, experts, weights);
  }
  return { routing: { n, m, k, experts, weights, loads }, objective, solveMs };
}

/** The exact optimum as a (stateless) balancer. Create with `createOptimalBalancer()`. */
export class OptimalBalancer implements Balancer {
  readonly method = 'optimal' as const;
  lastObjective = NaN;

  constructor(private readonly solver: Solver) {}

  route(scores: Float32Array, n: number, m: number, k: number): RouteResult {
    const r = solveOptimal(this.solver, scores, n, m, k);
    this.lastObjective = r.objective;
    return r.routing;
  }

  getState(): BalancerState {
    return {};
  }

  setState(state: BalancerState): void {
    checkEmptyState('optimal', state);
  }

  reset(): void {}
}

export async function createOptimalBalancer(): Promise<OptimalBalancer> {
  return new OptimalBalancer(await loadSolver());
}
