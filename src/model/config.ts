/**
 * The shape of the MoE language model (MiniMind-style decoder). Defaults live with the training
 * configuration (src/train/config.ts); this is the part the model itself reads.
 */
export interface ModelConfig {
  /** Vocabulary size V (token embedding tied to the output head). */
  vocabSize: number;
  /** Model width d. */
  dim: number;
  /** Number of transformer blocks L. */
  layers: number;
  /** Attention heads; dim must be divisible by heads, and dim / heads must be even (rotary pairs). */
  heads: number;
  /** Sequence length T (rotary tables and the causal mask are built for it). */
  seqLen: number;
  /** Number of routed experts m per MoE layer (config key numExperts; `experts` always means expert ids). */
  numExperts: number;
  /** Hidden size h of each SwiGLU expert. */
  expertHidden: number;
  /** Experts per token k. */
  topK: number;
  /** Number of shared (always active) SwiGLU experts of hidden size expertHidden, added to the routed output. */
  numSharedExperts: number;
  /** Gate turning router logits into scores: 'softmax' (the paper's) or 'sigmoid'. */
  gate: 'softmax' | 'sigmoid';
  /** Rotary base frequency. */
  ropeTheta: number;
  /** RMSNorm epsilon. */
  normEps: number;
  /** Standard deviation of the normal initialisation of the parameters (output projections scaled by 1/sqrt(2L)). */
  initStd: number;
}
