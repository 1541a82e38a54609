/** The data pipeline's public API: corpus and split, byte-level BPE, batches. */
export { loadDataset, checkSplits, DEFAULT_CACHE_DIR } from './dataset.ts';
export type { TokenDataset, LoadDatasetOptions } from './dataset.ts';
export { trainBpe, loadTokenizer } from './bpe.ts';
export type { Tokenizer } from './bpe.ts';
export { BatchSampler, evalBatches } from './batches.ts';
export type { Batch, SamplerState } from './batches.ts';
