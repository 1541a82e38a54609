"""The routing benchmark's peer: the same balancers written with numpy, vectorised.

    python3 bench/peer_numpy.py MANIFEST.json     (bench/routing.ts writes the manifest and runs this)

The manifest lists cases (a few .npy batches of n x m float32 scores, routed in turn, and k), the
methods and the timing budget. For each case this prints the median ms per call after warm-up, and
saves the experts of one call on the first batch from a fresh state (bip T=4, top-k) so that
bench/routing.ts can check that both implementations route alike.
Output: one JSON object on stdout.

Algorithms (algorithms.md; selection with np.partition / np.argpartition, never a full sort):
  top-k     argpartition for the k largest, then the k sorted by key (ours returns them best first),
            combine weights renormalised, loads by bincount
  bip T     T x [ p = max(0, (k+1)-th largest of s - q per row);  q = max(0, (c+1)-th largest of
            s - p per column) ], then top-k of s - q; the column step works on a transposed copy made
            once per call, as ours does
  quantile  top-k of s - beta; alpha = (k+1)-th largest of s - beta per row; beta = (c+1)-th largest of
            s - alpha per column (no truncation); one step per call
  lossfree  top-k of s + b;  b += u * sign(mean load - load), u = 0.001
State (q, beta, b) is carried from call to call, as the TypeScript balancers carry theirs.
"""
import json
import math
import sys
import time

import numpy as np


def capacity(n, m, k):
    exact = k * n / m
    r = round(exact)
    return r if abs(exact - r) < 1e-9 else math.ceil(exact)


def topk(keys, scores, k):
    """Experts (best first), combine weights and loads for the top-k of `keys`."""
    n, m = keys.shape
    idx = np.argpartition(keys, m - k, axis=1)[:, m - k:]
    order = np.argsort(-np.take_along_axis(keys, idx, axis=1), axis=1, kind='stable')
    experts = np.take_along_axis(idx, order, axis=1)
    w = np.take_along_axis(scores, experts, axis=1)
    if k > 1:
        w = w / w.sum(axis=1, keepdims=True)
    loads = np.bincount(experts.ravel(), minlength=m)
    return experts, w, loads


def kth_largest_rows(a, r):
    """The r-th largest of every row of a (r is 1-based)."""
    m = a.shape[1]
    return np.partition(a, m - r, axis=1)[:, m - r]


class Bip:
    def __init__(self, m, iters):
        self.q = np.zeros(m, dtype=np.float32)
        self.iters = iters

    def route(self, s, k):
        n, m = s.shape
        c = capacity(n, m, k)
        st = np.ascontiguousarray(s.T)  # [m, n]: columns contiguous for the column step
        q = self.q
        for _ in range(self.iters):
            p = np.maximum(kth_largest_rows(s - q, k + 1), 0)
            q = np.maximum(kth_largest_rows(st - p, c + 1), 0) if c + 1 <= n else np.zeros(m, np.float32)
        self.q = q
        return topk(s - q, s, k)


class Quantile:
    def __init__(self, m):
        self.beta = np.zeros(m, dtype=np.float32)

    def route(self, s, k):
        n, m = s.shape
        c = capacity(n, m, k)
        keys = s - self.beta
        result = topk(keys, s, k)
        alpha = kth_largest_rows(keys, k + 1)
        st = np.ascontiguousarray(s.T)
        self.beta = kth_largest_rows(st - alpha, c + 1) if c + 1 <= n else np.zeros(m, np.float32)
        return result


class LossFree:
    def __init__(self, m, rate=0.001):
        self.b = np.zeros(m, dtype=np.float32)
        self.rate = rate

    def route(self, s, k):
        n, m = s.shape
        experts, w, loads = topk(s + self.b, s, k)
        self.b += (self.rate * np.sign(n * k / m - loads)).astype(np.float32)
        return experts, w, loads


class TopK:
    def route(self, s, k):
        return topk(s, s, k)


def make(method, m):
    if method == 'topk':
        return TopK()
    if method.startswith('bip'):
        return Bip(m, int(method[3:]))
    if method == 'quantile':
        return Quantile(m)
    if method == 'lossfree':
        return LossFree(m)
    raise ValueError(f'unknown method {method}')


def time_calls(fn, budget_ms, min_reps, max_reps, warmup):
    """Median wall ms and median CPU ms (this process) per call: on a shared machine the CPU time is
    what the call cost, the wall time adds the time other processes had the core."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1e3
    reps = max(min_reps, min(max_reps, math.ceil(budget_ms / max(first, 1e-3))))
    times = []
    cpu = []
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return float(np.median(times)), reps, float(np.median(cpu))


def main():
    manifest = json.load(open(sys.argv[1]))
    out = {'numpy': np.__version__, 'python': sys.version.split()[0], 'cases': []}
    for case in manifest['cases']:
        batches = [np.load(path) for path in case['scores']]
        for b in batches:
            assert b.dtype == np.float32 and b.ndim == 2 and b.shape == batches[0].shape
        s = batches[0]
        n, m = s.shape
        k = case['k']
        res = {'n': n, 'm': m, 'k': k, 'methods': {}}
        # The read floor: one pass over the batch with numpy's SIMD sum.
        res['sumMs'], _, res['sumCpuMs'] = time_calls(lambda: s.sum(), manifest['budgetMs'], manifest['minReps'] * 4,
                                                       manifest['maxReps'] * 10, manifest['warmup'])
        for method in manifest['methods']:
            bal = make(method, m)
            calls = [0]

            def call():
                bal.route(batches[calls[0] % len(batches)], k)
                calls[0] += 1

            ms, reps, cpu_ms = time_calls(call, manifest['budgetMs'], manifest['minReps'], manifest['maxReps'],
                                          manifest['warmup'])
            res['methods'][method] = {'ms': ms, 'reps': reps, 'cpuMs': cpu_ms}
        # One call from a fresh state, for the agreement check.
        for method in ('topk', 'bip4'):
            experts, _, _ = make(method, m).route(s, k)
            path = case['scores'][0].replace('.npy', f'.{method}.experts.npy')
            np.save(path, experts.astype(np.int32))
            res['methods'].setdefault(method, {})['expertsFile'] = path
        out['cases'].append(res)
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
