// `dart prepare`: DART's per-model priors (forward proxy, generic priors) computed once per
// model file and cached under .cache/dart by the file's sha256, where `dart generate`,
// `dart eval` and the stack's inference nodes (`dart serve`) find them. `--estimate` times
// the same work on a synthesized shape with a few layers and extrapolates to the whole model.
import { Transformer } from "../../shared/engine/transformer.ts";
import { GENERIC_TOKENS, setTokenizer } from "../../shared/dart/priors.ts";
import { computeForwardProxy, PROXY_VOCAB_ROWS } from "../../shared/dart/forward-proxy.ts";
import { STATE_SHAPES } from "../../shared/dart/state-shape.ts";
import { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";
import { loadEngineBundle } from "../model-files.ts";
import { weightsFlag } from "../weights-flag.ts";
import { preparePriorsByKey, priorsKey, priorsPath } from "../priors-cache.ts";
import { progress } from "../progress.ts";
import { synthFill } from "../synth-model.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import type { ModelConfig } from "../../shared/model/config.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";

export const usage = `dart prepare --model <file> [--tokenizer <file>] [--weights f32|q8_0] [--json]
dart prepare --estimate <${Object.keys(STATE_SHAPES).join("|")}> [--layers <n>] [--tokens <n>] [--json]
  Computes DART's forward proxy (over at most ${PROXY_VOCAB_ROWS} vocabulary rows, an even-stride
  sample of larger vocabularies) and the "self" and "text" generic priors of a model once, with
  progress on stderr, and caches them under .cache/dart by the file's sha256 ($DART_CACHE_DIR).
  dart serve's nodes and dart generate/eval read them from there instead of computing them.
  --weights q8_0: the priors of the Q8_0 engine (dart serve --quant q8_0, generate/eval
  --weights q8_0), cached apart from the fp32 ones.
  --estimate times that work on random weights at a real model's shape with --layers layers
  (default 1 and 2, to separate the per-layer cost from the classifier's) over --tokens
  tokens (default 4), and extrapolates to the whole model. Measured, not modelled: run it on
  the machine that will serve.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" }, tokenizer: { type: "string" }, json: { type: "boolean" }, weights: { type: "string" },
    estimate: { type: "string" }, layers: { type: "string" }, tokens: { type: "string" },
  });
  if (v.estimate !== undefined) return estimate(v.estimate, numberFlag(v, "layers", 2, { integer: true, min: 2, max: 8 }), numberFlag(v, "tokens", 4, { integer: true, min: 1, max: 256 }), v.json === true);
  const modelPath = required(v, "model");
  const t0 = performance.now();
  const weights = weightsFlag(v.weights);
  const { transformer, tokenizer, bytes } = loadEngineBundle(modelPath, v.tokenizer, { weights });
  const loadSeconds = (performance.now() - t0) / 1000;
  const key = priorsKey(bytes);
  const c = transformer.config;
  process.stderr.write(`dart prepare: ${modelPath} (sha256 ${key}...), ${c.nLayers} layers, hidden ${c.hiddenDim}, vocabulary ${c.vocabSize}${c.vocabSize > PROXY_VOCAB_ROWS ? ` (proxy samples ${PROXY_VOCAB_ROWS} rows)` : ""}\n`);
  const seconds: Record<string, number> = {};
  let stage = "";
  let bar = progress("", true);
  let stageStart = 0;
  let lastLine = 0;
  const onProgress = (what: string, done: number, total: number) => {
    if (what !== stage) {
      stage = what;
      stageStart = performance.now();
      lastLine = 0;
      bar = progress(`dart prepare: ${what}`, false);
    }
    bar(done, total, "");
    // Not a terminal: a plain line every 10% (a log keeps it).
    if (!process.stderr.isTTY && (done === total || done / total - lastLine >= 0.1)) {
      lastLine = done / total;
      process.stderr.write(`dart prepare: ${what} ${done}/${total}, ${((performance.now() - stageStart) / 1000).toFixed(1)} s\n`);
    }
    if (done === total) bar.done();
  };
  const timed = (name: "proxy" | "generic-self" | "generic-text", needs: Parameters<typeof preparePriorsByKey>[3]) => {
    const s = performance.now();
    const r = preparePriorsByKey(transformer, tokenizer, key, needs, onProgress);
    seconds[name] = (performance.now() - s) / 1000;
    return r.cached.length > 0;
  };
  const cached = {
    proxy: timed("proxy", { proxy: true }),
    "generic-self": timed("generic-self", { generic: ["self"] }),
    "generic-text": timed("generic-text", { generic: ["text"] }),
  };
  const files = Object.fromEntries((["proxy", "generic-self", "generic-text"] as const).map((w) => [w, priorsPath(key, w, weights)]));
  const out = { model: modelPath, key, weights, loadSeconds, seconds, cached, files, vocabRows: Math.min(c.vocabSize, PROXY_VOCAB_ROWS), genericTokens: GENERIC_TOKENS };
  if (v.json) process.stdout.write(JSON.stringify(out) + "\n");
  else for (const [w, f] of Object.entries(files)) process.stdout.write(`${w}: ${cached[w as keyof typeof cached] ? "cached" : `computed in ${seconds[w]!.toFixed(1)} s`}, ${f}\n`);
}

/** Seeded random weights at `shape` with `layers` layers, tied classifier, in memory. */
function synthModel(shape: ModelConfig, layers: number): LoadedModel {
  const config = { ...shape, nLayers: layers, seqLen: 256 };
  const fill = synthFill(config, 1);
  const t = (name: string, layer: number, n: number) => {
    const a = new Float32Array(n);
    fill({ name, layer, floats: n }, a, 0);
    return a;
  };
  const { dim, hiddenDim: h, vocabSize: vocab } = config;
  const kv = (dim / config.nHeads) * config.nKvHeads;
  const tokenEmbedding = t("tokenEmbedding", -1, vocab * dim);
  return {
    config,
    weights: {
      tokenEmbedding,
      layers: Array.from({ length: layers }, (_, l) => ({
        attnNorm: new Float32Array(dim).fill(1), wq: t("wq", l, dim * dim), wk: t("wk", l, kv * dim), wv: t("wv", l, kv * dim), wo: t("wo", l, dim * dim),
        ffnNorm: new Float32Array(dim).fill(1), wGate: t("wGate", l, h * dim), wDown: t("wDown", l, dim * h), wUp: t("wUp", l, h * dim),
      })),
      finalNorm: new Float32Array(dim).fill(1),
      classifier: tokenEmbedding,
    },
    source: { format: "llama2c", dtypes: ["F32"] },
  } as LoadedModel;
}

/** Seconds for the proxy of one layer, and per generic-prior token at 1 and `layers` layers. */
function estimate(shapeName: string, layers: number, tokens: number, json: boolean): void {
  const shape = STATE_SHAPES[shapeName];
  if (!shape) throw new UsageError(`unknown shape "${shapeName}": use one of ${Object.keys(STATE_SHAPES).join(", ")}`);
  const perToken: number[] = [];
  let proxyPerLayer = 0;
  for (const L of [1, layers]) {
    process.stderr.write(`dart prepare --estimate: ${shapeName} with ${L} layer(s)...\n`);
    const tf = new Transformer(synthModel(shape, L));
    if (L === 1) {
      // The proxy's cost is linear in the rows it reads: time 256 of them on one layer.
      const s = performance.now();
      computeForwardProxy(tf.config, tf.weights, undefined, tf.ffn, undefined, 256);
      proxyPerLayer = ((performance.now() - s) / 1000) * (Math.min(shape.vocabSize, PROXY_VOCAB_ROWS) / 256);
    }
    // One generic-prior token is one forward pass with logits, as genericStats runs it.
    setTokenizer(tf, new Tokenizer({ pieces: Array.from({ length: shape.vocabSize }, (_, i) => `t${i}`), scores: new Float32Array(shape.vocabSize), bosId: 1, eosId: 2 }));
    const state = tf.newState();
    tf.forward(state, 1, 0); // compile
    const s = performance.now();
    for (let p = 1; p <= tokens; p++) tf.forward(state, 1 + p, p);
    perToken.push((performance.now() - s) / 1000 / tokens);
  }
  const perLayerToken = (perToken[1]! - perToken[0]!) / (layers - 1);
  const fixedToken = perToken[0]! - perLayerToken;
  const tokenSeconds = fixedToken + perLayerToken * shape.nLayers;
  // "self": 2048 tokens sampled, statistics gathered on the same passes; "text": up to 2048 forwards.
  const out = {
    shape: shapeName, nLayers: shape.nLayers, measuredLayers: [1, layers], tokensTimed: tokens,
    proxySecondsPerLayer: proxyPerLayer, proxySeconds: proxyPerLayer * shape.nLayers, proxyVocabRows: Math.min(shape.vocabSize, PROXY_VOCAB_ROWS),
    secondsPerTokenMeasured: perToken, secondsPerToken: tokenSeconds,
    genericSelfSeconds: GENERIC_TOKENS * tokenSeconds, genericTextSeconds: GENERIC_TOKENS * tokenSeconds,
    extrapolated: true,
  };
  if (json) process.stdout.write(JSON.stringify(out) + "\n");
  else {
    process.stdout.write(
      `${shapeName} (${shape.nLayers} layers, extrapolated from ${layers} measured): forward proxy ${out.proxySeconds.toFixed(0)} s ` +
      `(${out.proxyVocabRows} vocabulary rows), generic prior "self" ${out.genericSelfSeconds.toFixed(0)} s, "text" ${out.genericTextSeconds.toFixed(0)} s\n`,
    );
  }
}
