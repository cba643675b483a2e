// The control block shared by cli/wasm-threads.ts and its worker (Int32 indices).
export const SLOT = { seq: 0, done: 1, op: 2, segment: 3, args: 4 } as const;
export const OP = { exit: 0, segment: 1, matvec: 2, bundleDots: 3, bundleAccum: 4, rowsDot: 5, accumTokens: 6, q8Dots2: 7, q8Dots: 8, q8Accum: 9, q8RowsTokens: 10 } as const;
/** Bytes of the control block: SLOT.args plus the longest argument list (q8_dots2's 13). */
export const CONTROL_BYTES = 128;
