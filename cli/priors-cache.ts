// On-disk cache of per-model DART priors (forward proxy, generic statistics), keyed by
// the model file's sha256, the engine's weight format and PRIORS_FORMAT, under
// $DART_CACHE_DIR or .cache/dart in the repository.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { concatArrays, decodeState, encodeState, splitRows } from "../shared/dart/state-codec.ts";
import { forwardProxy, genericStats, setForwardProxy, setGenericStats, setTokenizer, type PriorSource } from "../shared/dart/priors.ts";
import type { Transformer } from "../shared/engine/transformer.ts";
import type { WeightFormat } from "../shared/engine/quantize-weights.ts";
import type { Tokenizer } from "../shared/tokenizer/tokenizer.ts";

/**
 * Version of what the cache holds: bump it whenever the priors' computation (generic text,
 * its length, the statistics kept) or their file layout changes, so files an older build
 * wrote are never read as current ones.
 */
export const PRIORS_FORMAT = 3; // 3: the proxy samples large vocabularies; the self prior starts at the tokenizer's BOS

export function cacheDir(): string {
  return process.env.DART_CACHE_DIR ?? resolve(import.meta.dirname, "../.cache/dart");
}

/**
 * Loads cached priors for this model into the DART prior memo, computing and saving
 * them on a miss. Only what `needs` lists is computed.
 */
export function preparePriors(tf: Transformer, tok: Tokenizer, modelBytes: Uint8Array, needs: PriorNeeds): void {
  preparePriorsByKey(tf, tok, priorsKey(modelBytes), needs);
}

export interface PriorNeeds {
  proxy?: boolean;
  generic?: PriorSource[];
}

/** The cache key of a model: its file's sha256 (first 16 hex digits). */
export function priorsKey(modelBytes: Uint8Array): string {
  return createHash("sha256").update(modelBytes).digest("hex").slice(0, 16);
}

/** priorsKey of a model file, streamed (a launcher need not hold a multi-GB file to name it). */
export async function priorsKeyOfFile(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest("hex").slice(0, 16);
}

/**
 * Where each prior of a model is (or would be) cached. `format`: the engine's weight format;
 * priors computed on Q8_0 weights (--weights / --quant q8_0) are not the fp32 model's, so they
 * have files of their own (<key>-q8_0...).
 */
export function priorsPath(key: string, what: "proxy" | `generic-${PriorSource}`, format: WeightFormat = "f32"): string {
  return join(cacheDir(), `${key}${format === "f32" ? "" : `-${format}`}.v${PRIORS_FORMAT}.${what}.bin`);
}

/**
 * preparePriors for a model known by its key (an inference node started by the launcher,
 * which hashed the file). `onProgress` hears each prior's progress as it is computed.
 */
export function preparePriorsByKey(
  tf: Transformer, tok: Tokenizer, key: string, needs: PriorNeeds,
  onProgress?: (what: string, done: number, total: number) => void,
): { computed: string[]; cached: string[] } {
  setTokenizer(tf, tok);
  const dir = cacheDir();
  const computed: string[] = [], cached: string[] = [];
  const L = tf.config.nLayers;
  const layers = (a: unknown) => splitRows(a as Float32Array, (a as Float32Array).length / L);
  const joinLayers = (arrs: Float32Array[]) => concatArrays(arrs, (n) => new Float32Array(n));
  const path = (what: "proxy" | `generic-${PriorSource}`) => priorsPath(key, what, tf.ffn[0]!.format);
  const save = (what: "proxy" | `generic-${PriorSource}`, arrays: Record<string, Float32Array>, header: unknown = {}) => {
    mkdirSync(dir, { recursive: true });
    const tmp = `${path(what)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`; // nodes of parallel stacks may save at once
    writeFileSync(tmp, encodeState(header, arrays));
    renameSync(tmp, path(what));
  };
  const load = (what: "proxy" | `generic-${PriorSource}`) => (existsSync(path(what)) ? decodeState<{ tokens?: number }>(new Uint8Array(readFileSync(path(what)))) : null);

  if (needs.proxy) {
    const hit = load("proxy");
    if (hit) {
      setForwardProxy(tf, { gMax: layers(hit.arrays.gMax), gMean: layers(hit.arrays.gMean) });
      cached.push("proxy");
    } else {
      const p = forwardProxy(tf, (d, t) => onProgress?.("forward proxy (layers)", d, t));
      save("proxy", { gMax: joinLayers(p.gMax), gMean: joinLayers(p.gMean) });
      computed.push("proxy");
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
      cached.push(`generic-${source}`);
    } else {
      const g = genericStats(tf, source, (d, t) => onProgress?.(`generic prior "${source}" (tokens)`, d, t));
      save(`generic-${source}`, { meanEnergy: joinLayers(g.meanEnergy), meanActivation: joinLayers(g.meanActivation) }, { tokens: g.tokens });
      computed.push(`generic-${source}`);
    }
  }
  return { computed, cached };
}

/** What a method needs precomputed. */
export function priorNeeds(method: string, ranking: string, prior: PriorSource): PriorNeeds {
  return {
    proxy: (method === "dart-paper" || method === "static") && ranking !== "magnitude",
    generic: method === "static" || method === "dart" ? [prior] : [],
  };
}
