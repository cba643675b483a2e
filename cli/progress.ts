// Progress on stderr for long jobs: one rewritten line on a terminal, nothing with --json or when piped.
export interface Progress {
  (done: number, total: number, unit: string): void;
  done(): void;
}

export function progress(label: string, quiet: boolean): Progress {
  const tty = process.stderr.isTTY && !quiet;
  const start = performance.now();
  let last = -Infinity; // the first update always shows, however young the process
  let shown = false;
  const show = ((done: number, total: number, unit: string) => {
    if (!tty) return;
    const now = performance.now();
    if (done < total && now - last < 200) return;
    last = now;
    shown = true;
    const secs = (now - start) / 1000;
    const eta = done > 0 ? (secs / done) * (total - done) : 0;
    process.stderr.write(`\r${label}: ${done}/${total} ${unit} (${Math.round((100 * done) / total)}%, ${secs.toFixed(0)}s, ~${eta.toFixed(0)}s left)  `);
  }) as Progress;
  show.done = () => {
    if (shown) process.stderr.write("\n");
  };
  return show;
}
