import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, NpyError, parseNpy, readNpy, writeNpy, type NpyData } from '../src/io/npy.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

function hasNumpy(): boolean {
  const r = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0;
}

/** A .npy file built by hand, for the malformed cases. */
function handMade(header: string, data: Uint8Array = new Uint8Array(0), major = 1, minor = 0): Uint8Array {
  const preamble = major === 1 ? 10 : 12;
  const h = Buffer.from(header + '\n', 'latin1');
  const out = new Uint8Array(preamble + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, minor]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, h.length, true);
  else view.setUint32(8, h.length, true);
  out.set(h, preamble);
  out.set(data, preamble + h.length);
  return out;
}

test('round trip of every writable dtype and shapes of rank 0 to 3', () => {
  const cases: [NpyData, number[]][] = [
    [Float32Array.from([0.5, -1.25, 3e-8, 7]), [2, 2]],
    [Float64Array.from([Math.PI, -0, 1e300, Number.MIN_VALUE, 2, 3]), [3, 2]],
    [Int8Array.from([-128, 127]), [2]],
    [Int16Array.from([-32768, 32767, 1]), [3, 1]],
    [Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]), [2, 3, 4]],
    [BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]), [2]],
    [Uint8Array.from([255]), []],
    [Uint16Array.from([65535, 0]), [1, 2]],
    [Uint32Array.from([2 ** 32 - 1]), [1]],
    [BigUint64Array.from([2n ** 64n - 1n]), [1, 1]],
    [new Float32Array(0), [0, 5]],
  ];
  for (const [data, shape] of cases) {
    const back = parseNpy(encodeNpy(data, shape));
    assert.deepEqual(back.shape, shape);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(Array.from(back.data as ArrayLike<number | bigint>), Array.from(data as ArrayLike<number | bigint>));
  }
  const f = parseNpy(encodeNpy(new Float64Array(6), [2, 3]));
  assert.equal(f.dtype, 'float64');
});

test('the data starts at a multiple of 64 bytes and the header ends with a newline', () => {
  for (const shape of [[], [3], [1, 2, 3, 4, 5, 6, 7, 1, 1]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = encodeNpy(new Float32Array(n), shape);
    const headerLen = bytes[8] | (bytes[9] << 8);
    assert.equal((10 + headerLen) % 64, 0);
    assert.equal(bytes[10 + headerLen - 1], 0x0a);
    assert.equal(bytes.length, 10 + headerLen + 4 * n);
  }
});

test('writeNpy writes atomically to the path and leaves no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const path = join(dir, 'a.npy');
    writeNpy(path, Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
    writeNpy(path, Float32Array.from([9, 8]), [2]); // overwrite
    assert.deepEqual(readdirSync(dir), ['a.npy']);
    const back = readNpy(path);
    assert.deepEqual(back.shape, [2]);
    assert.deepEqual(Array.from(back.data as Float32Array), [9, 8]);
    assert.throws(() => writeNpy(path, new Float32Array(5), [2, 3]), /holds 6 values but the data has 5/);
    assert.throws(() => writeNpy(join(dir, 'missing', 'b.npy'), new Float32Array(1), [1]), /ENOENT/);
    assert.deepEqual(readdirSync(dir), ['a.npy']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('committed numpy fixtures: v1 little-endian f4, v2 big-endian f8, v3 float16', () => {
  const a = readNpy(join(FIXTURES, 'f4_le_4x3.npy'));
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(a.shape, [4, 3]);
  assert.deepEqual(Array.from(a.data as Float32Array), Array.from({ length: 12 }, (_, i) => i / 16));

  const b = readNpy(join(FIXTURES, 'f8_be_v2_2x3.npy'));
  assert.equal(b.dtype, 'float64');
  assert.deepEqual(b.shape, [2, 3]);
  assert.deepEqual(Array.from(b.data as Float64Array), [1.5, -2.25, 1e300, 0, -0, 3]);
  assert.ok(Object.is((b.data as Float64Array)[4], -0));

  const c = readNpy(join(FIXTURES, 'f2_v3_7.npy'));
  assert.equal(c.dtype, 'float16');
  assert.ok(c.data instanceof Float32Array);
  const v = Array.from(c.data as Float32Array);
  assert.deepEqual(v.slice(0, 5), [1, 2 ** -24, 65504, Infinity, -Infinity]);
  assert.ok(Number.isNaN(v[5]));
  assert.ok(Object.is(v[6], -0));
});

test('files written by numpy now, in every dtype, byte order and version (python3 + numpy)', (t) => {
  if (!hasNumpy()) {
    // Without python the committed fixtures above are the numpy-written files under test.
    t.diagnostic('python3 with numpy not found: covered by the committed fixtures only');
    assert.ok(readFileSync(join(FIXTURES, 'f4_le_4x3.npy')).length > 0);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'npy-py-'));
  try {
    const script = `
import json, sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(3)
cases = []
i = 0
for code in ['f2','f4','f8','i1','i2','i4','i8','u1','u2','u4','u8','b1']:
    for order in ['<', '>']:
        for version in [(1,0), (2,0), (3,0)]:
            shape = [(), (5,), (2, 3), (2, 1, 3)][i % 4]
            i += 1
            dt = np.dtype(order + code)
            if code == 'b1':
                a = rng.integers(0, 2, size=shape).astype(dt)
            elif code[0] in 'iu':
                info = np.iinfo(dt)
                a = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt.newbyteorder('='))
                a = a.astype(dt)
            else:
                a = (rng.normal(size=shape) * 100).astype(dt)
            name = f'{order}{code}_{version[0]}.npy'.replace('<','le').replace('>','be')
            with open(f'{out}/{name}', 'wb') as f:
                np.lib.format.write_array(f, a, version=version)
            vals = [str(int(x)) if code[0] in 'iu' else (bool(x) if code == 'b1' else float(x)) for x in a.ravel()]
            cases.append({'name': name, 'shape': list(a.shape), 'values': vals})
# a 2-D C-contiguous slice and a Fortran-ordered array with a C-compatible layout
np.save(f'{out}/fcol.npy', np.asfortranarray(np.arange(4, dtype='<f4').reshape(4, 1)))
cases.append({'name': 'fcol.npy', 'shape': [4, 1], 'values': [0.0, 1.0, 2.0, 3.0]})
json.dump(cases, open(f'{out}/cases.json', 'w'))
`;
    const r = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { name: string; shape: number[]; values: (string | number | boolean)[] }[];
    assert.equal(cases.length, 12 * 2 * 3 + 1);
    for (const c of cases) {
      const a = readNpy(join(dir, c.name));
      assert.deepEqual(a.shape, c.shape, c.name);
      const got = Array.from(a.data as ArrayLike<number | bigint>);
      const want = c.values.map((x) => (typeof x === 'string' ? (a.dtype.endsWith('64') ? BigInt(x) : Number(x)) : typeof x === 'boolean' ? Number(x) : x));
      if (a.dtype === 'float32' || a.dtype === 'float16') {
        assert.deepEqual(got, want.map((x) => Math.fround(x as number)), c.name);
      } else {
        assert.deepEqual(got, want, c.name);
      }
    }

    // And the other direction: numpy reads our files, and writes byte-identical ones for the same array.
    writeNpy(join(dir, 'ours_f4.npy'), Float32Array.from([0.1, -2, 3.5, 1e-3, 5, 6]), [2, 3]);
    writeNpy(join(dir, 'ours_i8.npy'), BigInt64Array.from([-5n, 2n ** 40n]), [2]);
    writeNpy(join(dir, 'ours_scalar.npy'), Float64Array.from([2.5]), []);
    const check = `
import sys, numpy as np
d = sys.argv[1]
a = np.load(f'{d}/ours_f4.npy'); assert a.dtype == np.float32 and a.shape == (2, 3), a
assert np.array_equal(a, np.array([[0.1, -2, 3.5], [1e-3, 5, 6]], dtype=np.float32))
b = np.load(f'{d}/ours_i8.npy'); assert b.dtype == np.int64 and list(b) == [-5, 2**40]
c = np.load(f'{d}/ours_scalar.npy'); assert c.shape == () and c == 2.5
for name, arr in [('ours_f4', a), ('ours_i8', b), ('ours_scalar', c)]:
    np.save(f'{d}/np_{name}.npy', arr)
    assert open(f'{d}/np_{name}.npy', 'rb').read() == open(f'{d}/{name}.npy', 'rb').read(), name
print('ok')
`;
    const r2 = spawnSync('python3', ['-c', check, dir], { encoding: 'utf8' });
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(r2.stdout.trim(), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed and unsupported files are rejected with a message naming the problem', () => {
  const good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const data24 = new Uint8Array(24);
  const cases: [Uint8Array, RegExp][] = [
    [Buffer.from('{"scores": [[1, 2]]}'), /not a \.npy file/],
    [new Uint8Array(0), /not a \.npy file/],
    [handMade(good, data24, 4), /unsupported \.npy format version 4\.0/],
    [handMade(good, data24).subarray(0, 9), /truncated header \(the header length is missing\)/],
    [handMade(good, data24).subarray(0, 40), /truncated header \(\d+ bytes announced, 30 present\)/],
    [handMade(good, data24).subarray(0, 80), /truncated data: shape \(2, 3\) of float32 needs 24 bytes, the file has \d+/],
    [handMade("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data24), /fortran_order=True is not supported/],
    [handMade("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", data24), /object dtype \('\|O'\) is not supported/],
    [handMade("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", data24), /unicode string dtype/],
    [handMade("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", data24), /complex dtype/],
    [handMade("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data24), /structured dtypes/],
    [handMade("{'descr': '<f3', 'fortran_order': False, 'shape': (2,), }", data24), /unsupported dtype '<f3'/],
    [handMade("{'descr': '<f4', 'shape': (2, 3), }", data24), /no 'fortran_order' key/],
    [handMade("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", data24), /'shape' is not a tuple/],
    [handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", data24), /integers >= 0/],
    [handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", data24), /unexpected key\(s\) 'x'/],
    [handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", data24), /bad header: expected ',' or '}'/],
    [handMade("['descr']", data24), /bad header: not a dict/],
    [handMade("{'descr': '<f4', 'fortran_order': Fals, 'shape': (2, 3), }", data24), /bad header: unexpected character/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => parseNpy(bytes), (err: Error) => err instanceof NpyError && re.test(err.message), re.source);
  }
});

test('readNpy names the file in its errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const path = join(dir, 'short.npy');
    writeFileSync(path, encodeNpy(new Float32Array(6), [2, 3]).subarray(0, 134));
    assert.throws(() => readNpy(path), { name: 'NpyError', message: `${path}: truncated data: shape (2, 3) of float32 needs 24 bytes, the file has 6` });
    assert.throws(() => readNpy(join(dir, 'nope.npy')), { message: `${join(dir, 'nope.npy')}: file not found` });
    assert.throws(() => readNpy(dir), { message: `${dir}: is a directory` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a header in format 2.0 or 3.0 is read, and trailing bytes after the data are ignored', () => {
  const h = "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }";
  const data = Uint8Array.from([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 9, 9]);
  for (const major of [2, 3]) {
    const a = parseNpy(handMade(h, data, major));
    assert.equal(a.dtype, 'int32');
    assert.deepEqual(Array.from(a.data as Int32Array), [1, -2]);
  }
});

test('fortran_order=True is read when at most one axis is longer than 1 (the layout is then C order), without numpy', () => {
  // With one axis of length > 1 the Fortran and C layouts are the same bytes, so such files are read;
  // with two or more they differ and are rejected (the malformed-files test covers (2, 3)).
  const data = new Uint8Array(Float32Array.from([0, 1, 2, 3]).buffer);
  for (const shape of ['(4, 1)', '(1, 4)', '(4,)', '(1, 4, 1)']) {
    const a = parseNpy(handMade(`{'descr': '<f4', 'fortran_order': True, 'shape': ${shape}, }`, data));
    assert.deepEqual(Array.from(a.data as Float32Array), [0, 1, 2, 3], shape);
    assert.equal(a.shape.reduce((x, y) => x * y, 1), 4, shape);
  }
  assert.throws(() => parseNpy(handMade("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1, 2), }", data)), /fortran_order=True is not supported \(shape \(2, 1, 2\)\)/);
});
