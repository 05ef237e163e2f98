/**
 * BLAKE3 (unkeyed, 32-byte output) after the specification's reference implementation: the
 * tests' own oracle for the digests the engine reports, independent of the engine's code.
 * Node's `crypto` has no BLAKE3.
 */

const BLOCK_LEN = 64;
const CHUNK_LEN = 1024;
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const IV = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const MSG_PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

function rotr(x: number, n: number): number {
  return ((x >>> n) | (x << (32 - n))) >>> 0;
}

function g(s: number[], a: number, b: number, c: number, d: number, mx: number, my: number): void {
  s[a] = (s[a]! + s[b]! + mx) >>> 0;
  s[d] = rotr(s[d]! ^ s[a]!, 16);
  s[c] = (s[c]! + s[d]!) >>> 0;
  s[b] = rotr(s[b]! ^ s[c]!, 12);
  s[a] = (s[a]! + s[b]! + my) >>> 0;
  s[d] = rotr(s[d]! ^ s[a]!, 8);
  s[c] = (s[c]! + s[d]!) >>> 0;
  s[b] = rotr(s[b]! ^ s[c]!, 7);
}

function round(s: number[], m: number[]): void {
  g(s, 0, 4, 8, 12, m[0]!, m[1]!);
  g(s, 1, 5, 9, 13, m[2]!, m[3]!);
  g(s, 2, 6, 10, 14, m[4]!, m[5]!);
  g(s, 3, 7, 11, 15, m[6]!, m[7]!);
  g(s, 0, 5, 10, 15, m[8]!, m[9]!);
  g(s, 1, 6, 11, 12, m[10]!, m[11]!);
  g(s, 2, 7, 8, 13, m[12]!, m[13]!);
  g(s, 3, 4, 9, 14, m[14]!, m[15]!);
}

function compress(
  cv: number[],
  block: number[],
  counter: number,
  blockLen: number,
  flags: number,
): number[] {
  const s = [
    ...cv,
    IV[0]!,
    IV[1]!,
    IV[2]!,
    IV[3]!,
    counter >>> 0,
    Math.floor(counter / 0x1_0000_0000) >>> 0,
    blockLen,
    flags,
  ];
  let m = [...block];
  for (let r = 0; r < 7; r++) {
    round(s, m);
    m = MSG_PERMUTATION.map((i) => m[i]!);
  }
  for (let i = 0; i < 8; i++) {
    s[i] = (s[i]! ^ s[i + 8]!) >>> 0;
    s[i + 8] = (s[i + 8]! ^ cv[i]!) >>> 0;
  }
  return s;
}

function words(bytes: Uint8Array): number[] {
  const out = new Array<number>(16).fill(0);
  for (let i = 0; i < bytes.length; i++) {
    out[i >> 2] = (out[i >> 2]! | (bytes[i]! << (8 * (i & 3)))) >>> 0;
  }
  return out;
}

/** What a chunk or a parent node comes to, before its chaining value or the root is taken. */
interface Output {
  cv: number[];
  block: number[];
  counter: number;
  blockLen: number;
  flags: number;
}

function chainingValue(o: Output): number[] {
  return compress(o.cv, o.block, o.counter, o.blockLen, o.flags).slice(0, 8);
}

function parent(left: number[], right: number[]): Output {
  return { cv: IV, block: [...left, ...right], counter: 0, blockLen: BLOCK_LEN, flags: PARENT };
}

/** The output of chunk `counter`, holding `data` (at most `CHUNK_LEN` bytes). */
function chunk(data: Uint8Array, counter: number): Output {
  let cv = IV;
  let start = CHUNK_START;
  let offset = 0;
  // Every full block but the last is compressed into the chaining value.
  while (data.length - offset > BLOCK_LEN) {
    const block = words(data.subarray(offset, offset + BLOCK_LEN));
    cv = compress(cv, block, counter, BLOCK_LEN, start).slice(0, 8);
    start = 0;
    offset += BLOCK_LEN;
  }
  const last = data.subarray(offset);
  return { cv, block: words(last), counter, blockLen: last.length, flags: start | CHUNK_END };
}

/** The BLAKE3 digest of `data`, as 64 lowercase hex digits. */
export function blake3Hex(data: Uint8Array): string {
  const stack: number[][] = [];
  let counter = 0;
  let offset = 0;
  // Every chunk but the last is merged into the stack of subtree chaining values.
  while (data.length - offset > CHUNK_LEN) {
    let cv = chainingValue(chunk(data.subarray(offset, offset + CHUNK_LEN), counter));
    counter += 1;
    for (let total = counter; (total & 1) === 0; total >>= 1) {
      cv = chainingValue(parent(stack.pop()!, cv));
    }
    stack.push(cv);
    offset += CHUNK_LEN;
  }
  let output = chunk(data.subarray(offset), counter);
  while (stack.length > 0) {
    output = parent(stack.pop()!, chainingValue(output));
  }
  const root = compress(output.cv, output.block, 0, output.blockLen, output.flags | ROOT);
  const out = Buffer.alloc(32);
  root.slice(0, 8).forEach((w, i) => out.writeUInt32LE(w, 4 * i));
  return out.toString('hex');
}
