// On-disk cache of per-model DART priors (forward proxy, generic statistics), keyed by
// the model file's sha256 and PRIORS_FORMAT, under $DART_CACHE_DIR or .cache/dart in the
// repository.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { concatArrays, decodeState, encodeState, splitRows } from "../shared/dart/state-codec.ts";
import { forwardProxy, genericStats, setForwardProxy, setGenericStats, setTokenizer, type PriorSource } from "../shared/dart/priors.ts";
import type { Transformer } from "../shared/engine/transformer.ts";
import type { Tokenizer } from "../shared/tokenizer/tokenizer.ts";

/**
 * Version of what the cache holds: bump it whenever the priors' computation (generic text,
 * its length, the statistics kept) or their file layout changes, so files an older build
 * wrote are never read as current ones.
 */
export const PRIORS_FORMAT = 2;

export function cacheDir(): string {
  return process.env.DART_CACHE_DIR ?? resolve(import.meta.dirname, "../.cache/dart");
}

/**
 * Loads cached priors for this model into the DART prior memo, computing and saving
 * them on a miss. Only what `needs` lists is computed.
 */
export function preparePriors(tf: Transformer, tok: Tokenizer, modelBytes: Uint8Array, needs: { proxy?: boolean; generic?: PriorSource[] }): void {
  setTokenizer(tf, tok);
  const key = createHash("sha256").update(modelBytes).digest("hex").slice(0, 16);
  const dir = cacheDir();
  const L = tf.config.nLayers;
  const layers = (a: unknown) => splitRows(a as Float32Array, (a as Float32Array).length / L);
  const joinLayers = (arrs: Float32Array[]) => concatArrays(arrs, (n) => new Float32Array(n));
  const path = (what: string) => join(dir, `${key}.v${PRIORS_FORMAT}.${what}.bin`);
  const save = (what: string, arrays: Record<string, Float32Array>, header: unknown = {}) => {
    mkdirSync(dir, { recursive: true });
    const tmp = path(what) + ".tmp";
    writeFileSync(tmp, encodeState(header, arrays));
    renameSync(tmp, path(what));
  };
  const load = (what: string) => (existsSync(path(what)) ? decodeState<{ tokens?: number }>(new Uint8Array(readFileSync(path(what)))) : null);

  if (needs.proxy) {
    const hit = load("proxy");
    if (hit) setForwardProxy(tf, { gMax: layers(hit.arrays.gMax), gMean: layers(hit.arrays.gMean) });
    else {
      const p = forwardProxy(tf);
      save("proxy", { gMax: joinLayers(p.gMax), gMean: joinLayers(p.gMean) });
    }
  }
  for (const source of needs.generic ?? []) {
    const hit = load(`generic-${source}`);
    if (hit) {
      setGenericStats(tf, source, {
        meanEnergy: layers(hit.arrays.meanEnergy),
        meanActivation: layers(hit.arrays.meanActivation),
        tokens: hit.header.tokens ?? 0,
      });
    } else {
      const g = genericStats(tf, source);
      save(`generic-${source}`, { meanEnergy: joinLayers(g.meanEnergy), meanActivation: joinLayers(g.meanActivation) }, { tokens: g.tokens });
    }
  }
}

/** What a method needs precomputed. */
export function priorNeeds(method: string, ranking: string, prior: PriorSource): { proxy?: boolean; generic?: PriorSource[] } {
  return {
    proxy: (method === "dart-paper" || method === "static") && ranking !== "magnitude",
    generic: method === "static" || method === "dart" ? [prior] : [],
  };
}
