/**
 * Times the data pipeline on the built-in State of the Union corpus: an uncached build (BPE training
 * + encoding, in a fresh temporary cache directory) and then a cached load, and prints the split sizes.
 *
 *   node --import tsx bench/data.ts [vocabSize=4096]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../src/data/dataset.ts';

const vocabSize = Number(process.argv[2] ?? 4096);
const cacheDir = mkdtempSync(join(tmpdir(), 'moe-bench-data-'));
try {
  for (const label of ['uncached', 'cached']) {
    const t = performance.now();
    const ds = await loadDataset({ vocabSize, cacheDir, log: (m) => console.log(`  ${m}`) });
    const s = (performance.now() - t) / 1000;
    const valText = ds.tokenizer.decode(ds.val);
    const valBpt = Buffer.byteLength(valText) / ds.val.length;
    console.log(
      `${label}: ${s.toFixed(2)} s  train ${ds.train.length} tokens, val ${ds.val.length} tokens, ` +
        `val ${valBpt.toFixed(2)} bytes/token, vocabSize ${ds.vocabSize}`,
    );
  }
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}
