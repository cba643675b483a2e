// Neuron sets as packed bitsets (nLayers x hiddenDim flags, LSB first), the unit in which
// a sparse node reports the FFN neurons it holds and a session asks for the neurons its
// masks keep: one bit per neuron is 57 KB for Llama-3.1-8B's 32 x 14336, and comparing two
// sets is a popcount over words.

/** Packs 0/1 flags into bytes, 8 per byte, LSB first. */
export function packFlags(flags: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(flags.length / 8));
  for (let i = 0; i < flags.length; i++) if (flags[i]) out[i >>> 3]! |= 1 << (i & 7);
  return out;
}

function popcount8(b: number): number {
  b = b - ((b >>> 1) & 0x55);
  b = (b & 0x33) + ((b >>> 2) & 0x33);
  return (b + (b >>> 4)) & 0x0f;
}

/** Set bits of `bits`. */
export function countBits(bits: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) n += popcount8(bits[i]!);
  return n;
}

/** Bits set in `need` and clear in `have` (bitsets of the same shape): the neurons a node would fetch. */
export function countMissing(need: Uint8Array, have: Uint8Array): number {
  if (need.length !== have.length) throw new RangeError(`neuron bitsets of ${need.length} and ${have.length} bytes do not match`);
  let n = 0;
  for (let i = 0; i < need.length; i++) n += popcount8(need[i]! & ~have[i]! & 0xff);
  return n;
}
