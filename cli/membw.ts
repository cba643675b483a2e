// This machine's memory-copy bandwidth: the yardstick for the decoding floor.
/** GB/s of a large buffer copy (bytes copied per second), median of `repeats`. */
export function memcpyGBps(bytes = 256 << 20, repeats = 7): number {
  const src = new Uint8Array(bytes).fill(1);
  const dst = new Uint8Array(bytes);
  dst.set(src); // fault the pages in before timing
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    dst.set(src);
    rates.push(bytes / ((performance.now() - t0) / 1000) / 1e9);
  }
  return median(rates);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
