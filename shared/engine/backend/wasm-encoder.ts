// A minimal WebAssembly binary encoder: just enough to emit the f32x4 kernels in
// wasm-kernels.ts (one imported memory, functions, exports). Writing the module from
// TypeScript keeps it readable and needs no assembler download; the committed
// kernels.wasm (for workerd, which cannot compile wasm from bytes at run time) is
// this encoder's output, and a test checks that they match.

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const utf8 = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** Instructions, as byte sequences. Memory offsets are in bytes. */
export const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a],
  mul: [0x6c],
  i32Load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  shl: [0x74],
  and: [0x71],
  ltU: [0x49],
  /** select(a, b, c): a when c is non-zero, else b. */
  select: [0x1b],
  geU: [0x4f],
  gtU: [0x4b],
  f32Load: (offset = 0) => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0) => [0x38, 2, ...uleb(offset)],
  f32Add: [0x92],
  f32Mul: [0x94],
  v128Load: (offset = 0) => [0xfd, ...uleb(0x00), 4, ...uleb(offset)],
  v128Store: (offset = 0) => [0xfd, ...uleb(0x0b), 4, ...uleb(offset)],
  v128Zero: [0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0)],
  f32x4Splat: [0xfd, ...uleb(0x13)],
  f32x4Lane: (lane: number) => [0xfd, ...uleb(0x1f), lane],
  f32x4Add: [0xfd, ...uleb(0xe4)],
  f32x4Mul: [0xfd, ...uleb(0xe6)],
};

/** `while (!exitCond) body`: exitCond leaves an i32 on the stack, non-zero exits. */
export function whileNot(exitCond: number[], body: number[]): number[] {
  return [0x02, 0x40, 0x03, 0x40, ...exitCond, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b];
}

// Idioms the kernel files (wasm-kernels.ts, wasm-kernels-q8.ts, cli/bench-access.ts) share.

/** local[dst] = local[a] + b (b: code leaving an i32). */
export const addTo = (dst: number, a: number, b: number[]) => [...op.get(a), ...b, ...op.add, ...op.set(dst)];

/** Horizontal sum of the v128 in local `v`, left as an f32 on the stack. */
export const hsum = (v: number) => [
  ...op.get(v), ...op.f32x4Lane(0), ...op.get(v), ...op.f32x4Lane(1), ...op.f32Add,
  ...op.get(v), ...op.f32x4Lane(2), ...op.get(v), ...op.f32x4Lane(3), ...op.f32Add, ...op.f32Add,
];

/** acc += load(row + j + off) * xv, as f32x4 (xv a v128 local holding x[j..j+4)). */
export const rowFma = (acc: number, row: number, j: number, xv: number, off = 0) => [
  ...op.get(acc), ...op.get(row), ...op.get(j), ...op.add, ...op.v128Load(off), ...op.get(xv), ...op.f32x4Mul, ...op.f32x4Add, ...op.set(acc),
];

export interface FuncDef {
  name: string;
  params: ValType[];
  /** Extra locals, numbered after the params. */
  locals: ValType[];
  body: number[];
}

/** A module importing one memory as env.memory (optionally shared, max 4 GiB) and exporting every function. */
export function encodeModule(funcs: FuncDef[], opts: { sharedMemory?: boolean } = {}): Uint8Array {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), 0]);
  const limits = opts.sharedMemory ? [0x03, 0x00, ...uleb(65536)] : [0x00, 0x00];
  const imports = vec([[...utf8("env"), ...utf8("memory"), 0x02, ...limits]]);
  const funcIdx = vec(funcs.map((_, i) => uleb(i)));
  const exports = vec(funcs.map((f, i) => [...utf8(f.name), 0x00, ...uleb(i)]));
  const codes = funcs.map((f) => {
    const groups = f.locals.map((t) => [1, t]); // one entry per local: simple and valid
    const body = [...vec(groups), ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcIdx),
    ...section(7, exports),
    ...section(10, vec(codes)),
  ]);
}
