// Entry of a data-parallel training worker thread (parallel.ts). tsx's loader is not active in a new
// worker thread (its hooks belong to the thread that registered them), so register it here, once.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
