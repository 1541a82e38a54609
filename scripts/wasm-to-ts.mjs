// Writes a .wasm file as a TypeScript module exporting its bytes in base64 (so that no file system
// access is needed to load them: the package also runs in a browser), atomically (write, then rename).
// Used by scripts/build-wasm.sh and scripts/build-model-wasm.sh:
//   node scripts/wasm-to-ts.mjs WASM OUT.ts CONST_NAME 'doc comment lines with {size} and {version}' VERSION
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import process from 'node:process';

const [wasm, out, name, doc, version] = process.argv.slice(2);
const b64 = readFileSync(wasm).toString('base64');
const lines = b64.match(/.{1,100}/g).map((l) => `  ${JSON.stringify(l)}`).join(',\n');
const comment = doc.replace('{size}', String(statSync(wasm).size)).replace('{version}', version);
writeFileSync(out + '.tmp', `/**\n${comment}\n */\nexport const ${name} = [\n${lines},\n].join('');\n`);
renameSync(out + '.tmp', out);
