// A small versioned binary container for tracer state: magic, version, a JSON header
// (scalars and array directory), then the arrays back to back, 8-byte aligned.
//
// Version 2 (written now) adds the array kind "bits": 0/1 flags packed 8 per byte, LSB
// first (masks: hiddenDim/8 bytes per layer instead of 4 bytes per kept neuron). Version 1
// blobs (f32/f64/i32/u8 arrays only, written until the v2 upgrade) are still read, so
// sessions stored before the upgrade survive it.
const MAGIC = 0x54524144; // "DART" little-endian
export const STATE_VERSION = 2;
const READABLE_VERSIONS = [1, 2];

type Typed = Float32Array | Float64Array | Int32Array | Uint8Array;
const KINDS = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u8: Uint8Array } as const;
type PlainKind = keyof typeof KINDS;
type Kind = PlainKind | "bits";

/** Ask the encoder to pack 0/1 flags as a bitset (decoded back to a Uint8Array of 0/1). */
export interface BitsArray {
  bits: Uint8Array;
}
export type StateArray = Typed | BitsArray;

interface DirEntry {
  kind: Kind;
  offset: number;
  length: number;
}

function kindOf(a: StateArray): Kind {
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Float64Array) return "f64";
  if (a instanceof Int32Array) return "i32";
  if (a instanceof Uint8Array) return "u8";
  return "bits";
}

export class StateFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateFormatError";
  }
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

function encodedBytes(d: DirEntry): number {
  if (d.kind === "bits") return Math.ceil(d.length / 8);
  return d.length * KINDS[d.kind].BYTES_PER_ELEMENT;
}

export function encodeState(header: unknown, arrays: Record<string, StateArray>): Uint8Array {
  const dir: Record<string, DirEntry> = {};
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const kind = kindOf(a);
    const d: DirEntry = { kind, offset, length: kind === "bits" ? (a as BitsArray).bits.length : (a as Typed).length };
    dir[name] = d;
    offset += align8(encodedBytes(d));
  }
  const json = new TextEncoder().encode(JSON.stringify({ header, dir }));
  const start = align8(12 + json.byteLength);
  const out = new Uint8Array(start + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, STATE_VERSION, true);
  dv.setUint32(8, json.byteLength, true);
  out.set(json, 12);
  for (const [name, a] of Object.entries(arrays)) {
    const d = dir[name]!;
    const at = start + d.offset;
    if (d.kind === "bits") {
      const flags = (a as BitsArray).bits;
      for (let i = 0; i < flags.length; i++) if (flags[i]) out[at + (i >>> 3)]! |= 1 << (i & 7);
    } else {
      const t = a as Typed;
      out.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), at);
    }
  }
  return out;
}

export function decodeState<H>(bytes: Uint8Array): { version: number; header: H; arrays: Record<string, Typed> } {
  if (bytes.byteLength < 12) throw new StateFormatError("tracer state truncated");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new StateFormatError("not a DART tracer state (bad magic)");
  const version = dv.getUint32(4, true);
  if (!READABLE_VERSIONS.includes(version)) {
    throw new StateFormatError(`tracer state version ${version} is not supported (this build reads ${READABLE_VERSIONS.join(" and ")})`);
  }
  const len = dv.getUint32(8, true);
  if (12 + len > bytes.byteLength) throw new StateFormatError("tracer state truncated");
  let parsed: { header: H; dir: Record<string, DirEntry> };
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
  } catch {
    throw new StateFormatError("tracer state header is not valid JSON");
  }
  const start = align8(12 + len);
  const arrays: Record<string, Typed> = {};
  for (const [name, d] of Object.entries(parsed.dir)) {
    const plain = (KINDS as Record<string, (typeof KINDS)[PlainKind]>)[d.kind];
    const known = plain !== undefined || (version >= 2 && d.kind === "bits");
    if (!known || !Number.isInteger(d.length) || d.length < 0 || !Number.isInteger(d.offset) || d.offset < 0) {
      throw new StateFormatError(`tracer state array ${name} has unknown kind ${d.kind} or a bad directory entry`);
    }
    const at = start + d.offset;
    if (at + encodedBytes(d) > bytes.byteLength) throw new StateFormatError(`tracer state truncated in array ${name}`);
    if (d.kind === "bits") {
      const flags = new Uint8Array(d.length);
      for (let i = 0; i < d.length; i++) flags[i] = (bytes[at + (i >>> 3)]! >>> (i & 7)) & 1;
      arrays[name] = flags;
    } else arrays[name] = new plain!(bytes.slice(at, at + encodedBytes(d)).buffer);
  }
  return { version, header: parsed.header, arrays };
}

/** The arrays end to end in one array made by `make` (state arrays are stored whole). */
export function concatArrays<T extends Float32Array | Int32Array>(arrays: T[], make: (n: number) => T): T {
  const out = make(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

/** Copies of consecutive rows of `width` elements (a trailing partial row is dropped). */
export function splitRows(a: Float32Array, width: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let o = 0; o + width <= a.length; o += width) out.push(a.slice(o, o + width));
  return out;
}

/** Per-layer kept index lists (null: layer dense) as one bitset of nLayers x width flags. */
export function keptToFlags(kept: (Int32Array | null)[], width: number): Uint8Array {
  const flags = new Uint8Array(kept.length * width);
  kept.forEach((k, l) => {
    if (k) for (const j of k) flags[l * width + j] = 1;
  });
  return flags;
}

/** The ascending kept indices of layer `layer` from a bitset of rows of `width` flags. */
export function flagsToKept(flags: Uint8Array, layer: number, width: number): Int32Array {
  const out: number[] = [];
  for (let j = 0; j < width; j++) if (flags[layer * width + j]) out.push(j);
  return Int32Array.from(out);
}
