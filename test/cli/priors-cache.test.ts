// The priors cache is keyed by the model's bytes and by PRIORS_FORMAT: files an older build
// wrote (another format, or the unversioned names of before) are never read as current.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PRIORS_FORMAT, preparePriors } from "../../cli/priors-cache.ts";
import { encodeState } from "../../shared/dart/state-codec.ts";
import { computeForwardProxy } from "../../shared/dart/forward-proxy.ts";
import { forwardProxy } from "../../shared/dart/priors.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { readData, stories } from "../helpers/model-dir.ts";

const dir = mkdtempSync(join(tmpdir(), "dart-priors-"));
const saved = process.env.DART_CACHE_DIR;
afterAll(() => {
  if (saved === undefined) delete process.env.DART_CACHE_DIR;
  else process.env.DART_CACHE_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe("priors cache", () => {
  it("ignores files of another format and writes its own under the current one", () => {
    process.env.DART_CACHE_DIR = dir;
    const { model, tok } = stories("bin");
    const bytes = readData("stories260K.bin");
    const key = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
    const n = model.config.nLayers * model.config.hiddenDim;
    // Well-formed but wrong vectors where older builds kept them.
    const stale = encodeState({}, { gMax: new Float32Array(n).fill(7), gMean: new Float32Array(n).fill(7) });
    writeFileSync(join(dir, `${key}.proxy.bin`), stale);
    writeFileSync(join(dir, `${key}.v${PRIORS_FORMAT - 1}.proxy.bin`), stale);

    const tf = new Transformer(model); // a fresh prior memo
    preparePriors(tf, tok, bytes, { proxy: true });
    const want = computeForwardProxy(model.config, model.weights);
    expect(Array.from(forwardProxy(tf).gMax[3]!)).toEqual(Array.from(want.gMax[3]!));
    expect(existsSync(join(dir, `${key}.v${PRIORS_FORMAT}.proxy.bin`))).toBe(true);

    // The current file is read back by the next process (here: the next Transformer).
    writeFileSync(join(dir, `${key}.v${PRIORS_FORMAT}.proxy.bin`), stale);
    const again = new Transformer(model);
    preparePriors(again, tok, bytes, { proxy: true });
    expect(forwardProxy(again).gMax[0]![0]).toBe(7);
  });
});
