// A one-node ONNX model, y[1,d] = x[1,n] · W[n,d] with W an initializer, encoded
// by hand (protobuf) so onnxruntime-web can be measured on the same matvec as our
// kernels without any model file or ONNX tooling.

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const num = (field: number, v: number) => [...varint(field << 3), ...varint(v)];
const bytes = (field: number, b: ArrayLike<number>) => [...varint((field << 3) | 2), ...varint(b.length), ...Array.from(b)];
const str = (field: number, s: string) => bytes(field, new TextEncoder().encode(s));

function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, num(1, d)));
  const tensorType = [...num(1, 1), ...bytes(2, shape)]; // elem_type FLOAT
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** ONNX bytes for MatMul(x[1,n], W[n,d]); `w` is n x d row-major. */
export function matmulModel(w: Float32Array, n: number, d: number): Uint8Array {
  const node = [...str(1, "x"), ...str(1, "w"), ...str(2, "y"), ...str(4, "MatMul")];
  const head = [...num(1, n), ...num(1, d), ...num(2, 1), ...str(8, "w")];
  const raw = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
  const rawTag = [...varint((9 << 3) | 2), ...varint(raw.length)];
  const graphHead = [...bytes(1, node), ...str(2, "matvec")];
  const tail = [...bytes(11, valueInfo("x", [1, n])), ...bytes(12, valueInfo("y", [1, d]))];
  const initLen = head.length + rawTag.length + raw.length;
  const initTag = [...varint((5 << 3) | 2), ...varint(initLen)];
  const graphLen = graphHead.length + initTag.length + initLen + tail.length;
  const modelHead = [...num(1, 8), ...bytes(8, [...str(1, ""), ...num(2, 13)]), ...varint((7 << 3) | 2), ...varint(graphLen)];
  // Assembled by copying: the weights are too big for spread arrays.
  const out = new Uint8Array(modelHead.length + graphLen);
  let o = 0;
  for (const part of [modelHead, graphHead, initTag, head, rawTag]) {
    out.set(part, o);
    o += part.length;
  }
  out.set(raw, o);
  o += raw.length;
  out.set(tail, o);
  return out;
}
