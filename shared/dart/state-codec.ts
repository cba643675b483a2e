// A small versioned binary container for tracer state: magic, version, a JSON header
// (scalars and array directory), then the typed arrays back to back, 8-byte aligned.
const MAGIC = 0x54524144; // "DART" little-endian
export const STATE_VERSION = 1;

type Typed = Float32Array | Float64Array | Int32Array | Uint8Array;
const KINDS = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u8: Uint8Array } as const;
type Kind = keyof typeof KINDS;

function kindOf(a: Typed): Kind {
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Float64Array) return "f64";
  if (a instanceof Int32Array) return "i32";
  return "u8";
}

export class StateFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateFormatError";
  }
}

export function encodeState(header: unknown, arrays: Record<string, Typed>): Uint8Array {
  const dir: Record<string, { kind: Kind; offset: number; length: number }> = {};
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    dir[name] = { kind: kindOf(a), offset, length: a.length };
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  const json = new TextEncoder().encode(JSON.stringify({ header, dir }));
  const start = Math.ceil((12 + json.byteLength) / 8) * 8;
  const out = new Uint8Array(start + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, STATE_VERSION, true);
  dv.setUint32(8, json.byteLength, true);
  out.set(json, 12);
  for (const [name, a] of Object.entries(arrays)) out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), start + dir[name]!.offset);
  return out;
}

export function decodeState<H>(bytes: Uint8Array): { header: H; arrays: Record<string, Typed> } {
  if (bytes.byteLength < 12) throw new StateFormatError("tracer state truncated");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new StateFormatError("not a DART tracer state (bad magic)");
  const version = dv.getUint32(4, true);
  if (version !== STATE_VERSION) throw new StateFormatError(`tracer state version ${version} is not supported (expected ${STATE_VERSION})`);
  const len = dv.getUint32(8, true);
  if (12 + len > bytes.byteLength) throw new StateFormatError("tracer state truncated");
  let parsed: { header: H; dir: Record<string, { kind: Kind; offset: number; length: number }> };
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
  } catch {
    throw new StateFormatError("tracer state header is not valid JSON");
  }
  const start = Math.ceil((12 + len) / 8) * 8;
  const arrays: Record<string, Typed> = {};
  for (const [name, d] of Object.entries(parsed.dir)) {
    const Ctor = KINDS[d.kind];
    if (!Ctor) throw new StateFormatError(`tracer state array ${name} has unknown kind ${d.kind}`);
    const byteLen = d.length * Ctor.BYTES_PER_ELEMENT;
    if (start + d.offset + byteLen > bytes.byteLength) throw new StateFormatError(`tracer state truncated in array ${name}`);
    const copy = bytes.slice(start + d.offset, start + d.offset + byteLen);
    arrays[name] = new Ctor(copy.buffer);
  }
  return { header: parsed.header, arrays };
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
