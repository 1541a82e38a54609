/* global WebAssembly, console */
// Checks a module built to work inside a memory it imports (the model kernels on TensorFlow.js's heap,
// the optimizer kernels on the worker group's shared memory): its only import is env.memory and it has
// no data segment (instantiating it would copy the segment into that memory). Exits 1 naming the problem.
// The shadow stack is ruled out at compile time (-Wframe-larger-than=0). Used by scripts/build-model-wasm.sh
// and scripts/build-optimizer-wasm.sh:
//   node scripts/check-memory-module.mjs WASM NAME
import { readFileSync } from 'node:fs';
import process from 'node:process';

const [wasm, name] = process.argv.slice(2);
const bytes = readFileSync(wasm);
const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => `${i.module}.${i.name}:${i.kind}`);
if (imports.join() !== 'env.memory:memory') {
  console.error(`${name}: unexpected imports ${imports.join()}`);
  process.exit(1);
}
// The section ids: a data segment (11) must not exist.
let p = 8;
let data = 0;
const leb = () => {
  let r = 0;
  let s = 0;
  let b;
  do {
    b = bytes[p++];
    r |= (b & 0x7f) << s;
    s += 7;
  } while (b & 0x80);
  return r >>> 0;
};
while (p < bytes.length) {
  const id = bytes[p++];
  const len = leb();
  const end = p + len;
  if (id === 11) data = leb();
  p = end;
}
if (data !== 0) {
  console.error(`${name}: the module has ${data} data segment(s)`);
  process.exit(1);
}
