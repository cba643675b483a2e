// The control block shared by cli/wasm-threads.ts and its worker (Int32 indices).
export const SLOT = { seq: 0, done: 1, op: 2, segment: 3, args: 4 } as const;
export const OP = { exit: 0, segment: 1, matvec: 2, bundleDots: 3, bundleAccum: 4, rowsDot: 5, accumTokens: 6 } as const;
