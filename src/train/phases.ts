/**
 * Where one training step's time went, in milliseconds, as rank 0 saw it (bench:train prints the shares).
 * With W > 1 workers the phases overlap nothing: forward, routing and backward run on the rank's share of
 * the batch; `waits` is the part of routing, exchange and optimizer spent at barriers, i.e. waiting for
 * the slowest rank (imbalance) and for the wake-up.
 */
export interface StepPhases {
  /** Forward pass, without the routing calls. */
  forward: number;
  /** Reading each layer's scores out of the graph and routing them (W > 1: the collectives too). */
  routing: number;
  /** Backward pass. */
  backward: number;
  /** W > 1: the gradient and statistics copied to shared memory and the barrier after them. */
  exchange: number;
  /** The AdamW step and the upload of the parameters (W > 1: with the gradient reduction and its barriers). */
  optimizer: number;
  /** W > 1: time waited at barriers (included in routing, exchange and optimizer). */
  waits: number;
}
