/**
 * Quick start: route a batch of router scores with BIP-Based Balancing and compare with plain top-k.
 * Run: npx tsx examples/quickstart.ts
 */
import { createBalancer, maxVio, retention, Rng } from '../src/index.ts';

const n = 4096; // tokens in the batch
const m = 16; // experts
const k = 2; // experts per token

// Skewed softmax scores: expert j's logit gets a bonus that falls with j, so low ids are popular.
const rng = new Rng(1);
const scores = new Float32Array(n * m);
for (let i = 0; i < n; i++) {
  let z = 0;
  for (let j = 0; j < m; j++) z += scores[i * m + j] = Math.exp(rng.normal() + 2 / (1 + j));
  for (let j = 0; j < m; j++) scores[i * m + j] /= z;
}

const topk = createBalancer('topk');
const bip = createBalancer('bip', { iters: 4 }); // keeps q (one entry per expert) from call to call

const plain = topk.route(scores, n, m, k);
const balanced = bip.route(scores, n, m, k);

console.log(`plain top-k: MaxVio ${maxVio(plain.loads, n, k).toFixed(3)}, loads ${Array.from(plain.loads).join(' ')}`);
console.log(`BIP (T = 4): MaxVio ${maxVio(balanced.loads, n, k).toFixed(3)}, loads ${Array.from(balanced.loads).join(' ')}`);
console.log(`BIP keeps ${(100 * retention(scores, balanced)).toFixed(2)}% of the top-k score; token 0 -> experts ${Array.from(balanced.experts.subarray(0, k))} with weights ${Array.from(balanced.weights.subarray(0, k), (w) => w.toFixed(3))}`);
console.log(`state for the next batch: ${JSON.stringify(bip.getState()).slice(0, 60)}...`);
