/**
 * The balanced MoE layer in your own TensorFlow.js model: a residual block x + MoE(x) followed by a
 * linear read-out, trained with tf.train.adam on a toy regression. The layer owns its router, experts
 * and balancer (BIP here), so the model code only calls moe.apply(x) and trains moe.variables.
 * Run: npx tsx examples/tfjs-layer.ts        (in your project: import from 'moe-balance/tfjs')
 */
import * as tf from '@tensorflow/tfjs';
import { maxVio } from '../src/index.ts';
import { BalancedMoe, setBackend } from '../src/tfjs.ts';

await setBackend('wasm'); // the layer's kernels for tfjs's wasm backend; 'cpu' works too

const N = 512; // tokens per batch
const d = 32; // model width
const k = 2;
const moe = new BalancedMoe({ dim: d, numExperts: 8, expertHidden: 64, k, method: 'bip', balancerOptions: { iters: 8, truncate: false } });
const head = tf.variable(tf.randomNormal([d, 1], 0, 0.1, 'float32', 7), true, 'head');
const optimizer = tf.train.adam(0.01);

// Toy target: a non-linear function of the input that different experts can specialise on.
const x = tf.randomNormal([N, d], 0, 1, 'float32', 3) as tf.Tensor2D;
const target = tf.tidy(() => tf.sin(tf.sum(tf.mul(x, tf.linspace(-1, 1, d)), 1, true)));

for (let step = 1; step <= 30; step++) {
  let vio = 0;
  const loss = optimizer.minimize(
    () => {
      const out = moe.apply(x);
      vio = maxVio(out.route.loads, N, k);
      const h = tf.add(x, out.y); // residual
      return tf.losses.meanSquaredError(target, tf.matMul(h, head)) as tf.Scalar;
    },
    true,
    [...moe.variables, head],
  )!;
  if (step === 1 || step % 10 === 0) console.log(`step ${step}: loss ${loss.dataSync()[0].toFixed(4)}, MaxVio ${vio.toFixed(3)}`);
  loss.dispose();
}
console.log(`balancer state after training: ${JSON.stringify(moe.getState()).slice(0, 60)}...`);
moe.dispose();
