// One pruner for every masking method. What differs between methods is when statistics
// are traced, how neurons are scored, and whether drift re-masks; the mechanics (dense vs
// compacted FFN per forward, counters, events) are shared.
//
//   static  : one mask per model from generic text, used for every context.
//   random  : one seeded random mask per model.
//   griffin : mask from the prompt's per-token-normalised activations, at the end of each prompt.
//   dart-paper: trace the prompt and the first maskingStep - 1 generated tokens densely,
//             mask from the maskingStep-th (the reference's count), then watch drift
//             windows; a shift re-traces max(1, maskingStep - 1) tokens and re-masks.
//   dart    : mask at the end of the prompt from the prompt's statistics blended with a
//             generic prior and weighted by each neuron's W_down column norm (no dense
//             generated tokens); drift is watched with out-of-sample calibration.
import { compactOf, type CompactFfn } from "../engine/compact-ffn.ts";
import type { ForwardHooks } from "../engine/hooks.ts";
import type { InferenceState, Transformer } from "../engine/transformer.ts";
import { Rng } from "../engine/sampler.ts";
import { autoRatios, keptCount, uniformRatios } from "./budget.ts";
import { DriftDetector, PAPER_DRIFT, type DriftOptions } from "./drift.ts";
import type { DriftEvent, LayerMaskSummary, Pruner, PrunerStats } from "./pruner.ts";
import { downNorms, forwardProxy, genericStats, memoPlan, priorOutput } from "./priors.ts";
import { scoreLayer, topK } from "./ranking.ts";
import { DartSettingsError, type DartSettings } from "./settings.ts";
import { Tracer } from "./tracer.ts";
import { concatArrays as concat, decodeState, encodeState, flagsToKept, keptToFlags, splitRows as split, StateFormatError, type StateArray } from "./state-codec.ts";

const f32 = (n: number) => new Float32Array(n);

/** Tunables of the improved `dart` method (see docs/quality.md for how they were chosen). */
export const DART_TUNING = {
  /** Weight of the generic prior, in tokens. */
  priorWeight: 50,
  /** Cap on the prompt's weight, in tokens. */
  promptCap: 100,
  drift: { windowSize: 5, sigmaFactor: 1, minMargin: 0.05, trigger: 2, calibration: "leave-one-out" } as DriftOptions,
  /** Dense tokens traced after a detected shift (0: re-mask at once from the prior alone). */
  retraceTokens: 0,
  /** Without a dense trace, the drift baseline is calibrated on this many masked tokens. */
  calibrationTokens: 10,
  /** Mean compensation: rank by activation variance and add the pruned neurons' mean output as a bias. */
  compensate: true,
};

type Mode = "tracing" | "masked";

/**
 * Builds layer `layer`'s compacted FFN for the ascending kept neurons, synchronously
 * (it runs between two forward calls). The default is an index list over the Transformer's
 * resident FFN bundles (compactOf, no copy); a node serving from the weight store does the same
 * over the bundles its shards were decoded into (shared/weights/resident-ffn.ts), and counts them.
 */
export type FfnBuilder = (layer: number, kept: Int32Array) => CompactFfn;

/** Kept neurons and mean-compensation bias per layer (null kept: the layer runs dense). */
export interface MaskPlan {
  kept: (Int32Array | null)[];
  bias: (Float32Array | null)[];
}

export interface PrunerOptions {
  ffnBuilder?: FfnBuilder;
  /**
   * The masks a mask build with no traced tokens installs (static and random's fixed masks,
   * dart's re-mask from the generic prior alone), computed elsewhere by priorPlan(). A sparse
   * node has no dense FFN to score or compensate with, so a full node computes them.
   */
  priorMasks?: MaskPlan;
}

/** A compacted FFN that only names its kept neurons: for pruners that compute masks and never run them. */
export function keptOnlyFfn(kept: Int32Array): CompactFfn {
  return { kept, slots: new Int32Array(0), bundles: null as unknown as CompactFfn["bundles"] };
}

export class MaskingPruner implements Pruner {
  readonly settings: DartSettings;
  readonly hooks: ForwardHooks;
  private readonly tf: Transformer;
  private readonly state: InferenceState;
  private readonly L: number;
  private readonly hidden: number;
  readonly tracer: Tracer;
  readonly drift: DriftDetector | null;
  mode: Mode = "tracing";
  /** Generated tokens still to trace densely before masking. */
  traceLeft = 0;
  /** Whether the current forward call feeds the tracer. */
  private tracingNow = false;
  /** A drift check asked for a re-trace, applied at the next forward call. */
  pendingRemask = false;
  kept: (Int32Array | null)[];
  private compact: (CompactFfn | null)[];
  private log: DriftEvent[] = [];
  counters = { tokens: 0, denseTokens: 0, neuronEvals: 0, neuronSlots: 0, remasks: 0 };
  private readonly buildFfn: FfnBuilder;
  private readonly priorMasks: MaskPlan | null;
  /** Scratch for scoreBlend's per-layer moments. */
  private q1: Float32Array | null = null;
  private q2: Float32Array | null = null;

  constructor(tf: Transformer, state: InferenceState, settings: DartSettings, options: PrunerOptions = {}) {
    this.tf = tf;
    this.buildFfn = options.ffnBuilder ?? ((l, kept) => compactOf(tf.ffn[l]!, kept));
    this.priorMasks = options.priorMasks ?? null;
    this.state = state;
    this.settings = settings;
    const c = tf.config;
    this.L = c.nLayers;
    this.hidden = c.hiddenDim;
    if (settings.layerSparsity && settings.layerSparsity.length !== c.nLayers) {
      throw new DartSettingsError("dart.layerSparsity", `dart.layerSparsity needs ${c.nLayers} entries (one per layer), got ${settings.layerSparsity.length}`);
    }
    const m = settings.method;
    this.tracer = new Tracer(c.nLayers, c.hiddenDim, c.dim, {
      aggregation: settings.aggregation,
      emaDecay: settings.emaDecay,
      normalizePerToken: m === "griffin",
      importance: settings.budget === "auto",
      moments: m === "dart",
    });
    const watch = settings.drift !== false; // states saved before the setting existed watched drift
    this.drift = !watch ? null : m === "dart-paper" ? new DriftDetector(c.dim, PAPER_DRIFT) : m === "dart" ? new DriftDetector(c.dim, DART_TUNING.drift) : null;
    this.kept = new Array(c.nLayers).fill(null);
    this.compact = new Array(c.nLayers).fill(null);
    if (m === "static" || m === "random") this.setMasks(this.priorMasks?.kept ?? this.fixedMasks());
    // Methods without tracing start (and stay) masked; dense keeps every kept set null.
    if (!this.tracesPrompt) this.mode = "masked";
    this.traceLeft = this.decodeTraceTokens;
    this.hooks = this.makeHooks();
  }

  private makeHooks(): ForwardHooks {
    const last = this.L - 1;
    return {
      ffnActivation: (l, _pos, a) => {
        if (this.tracingNow) this.tracer.activation(l, a);
      },
      ffnInput: (l, _pos, h) => {
        if (this.tracingNow) this.tracer.ffnInput(l, h);
      },
      ffnOutput: (l, _pos, m) => {
        if (this.tracingNow) this.tracer.ffnOutput(l, m);
      },
      attnOutput: (l, pos, o) => {
        if (l !== last || !this.drift) return;
        if (this.tracingNow) {
          this.drift.observeTraced(o);
          return;
        }
        if (!this.drift.baseline && this.mode === "masked") {
          // No dense trace to calibrate on (dart after a re-mask): calibrate on masked tokens.
          this.drift.observeTraced(o);
          if (this.drift.tracedCount >= DART_TUNING.calibrationTokens) this.drift.calibrate();
          return;
        }
        const check = this.drift.observe(o);
        if (!check) return;
        const remask = check.fired && !this.pendingRemask;
        if (remask) this.pendingRemask = true;
        this.log.push({ pos, kind: "window", cosine: check.cosine, threshold: check.threshold, remask });
      },
    };
  }

  private get tracesPrompt(): boolean {
    const m = this.settings.method;
    return m === "griffin" || m === "dart-paper" || m === "dart";
  }

  /**
   * Generated tokens traced densely after a prompt. The reference's forward counter is 0 for
   * the prompt and masks at counter == maskingStep, so it traces maskingStep - 1 generated
   * tokens (none for 0 and 1); the other methods mask right after the prompt.
   */
  private get decodeTraceTokens(): number {
    return this.settings.method === "dart-paper" ? Math.max(0, this.settings.maskingStep - 1) : 0;
  }

  /**
   * Generated tokens traced after a drift re-mask. The reference resets its counter inside the
   * triggering forward and masks maskingStep forwards later; at least one token is traced
   * here, since there is no prompt to take statistics from.
   */
  private get retraceTokens(): number {
    return this.settings.method === "dart" ? DART_TUNING.retraceTokens : Math.max(1, this.settings.maskingStep - 1);
  }

  beginTurn(pos: number, nTokens: number): void {
    if (!this.tracesPrompt || nTokens < 2) return; // a single token continues the current masks
    this.startTrace(this.decodeTraceTokens);
    this.log.push({ pos, kind: "turn", remask: true });
  }

  /** Resets statistics and runs dense from now on; `decodeTokens` generated tokens are traced too. */
  private startTrace(decodeTokens: number): void {
    this.tracer.reset();
    this.drift?.reset();
    this.mode = "tracing";
    this.traceLeft = decodeTokens;
    this.pendingRemask = false;
  }

  beforeForward(pos: number, _token: number, phase: "prompt" | "decode"): void {
    const m = this.settings.method;
    if (this.tracingNow) this.tracer.endToken();
    this.tracingNow = false;
    let dense: boolean;
    if (m === "dense") dense = true;
    else if (phase === "prompt") {
      // The prompt runs dense for every method (the evaluation protocol), traced where the method reads it.
      dense = true;
      this.tracingNow = this.tracesPrompt && this.mode === "tracing";
      if (this.tracingNow) this.tracer.beginToken("prompt");
    } else {
      if (this.pendingRemask) {
        this.counters.remasks++;
        this.startTrace(this.retraceTokens);
        this.log.push({ pos, kind: "mask", remask: true });
      }
      if (this.mode === "tracing" && this.traceLeft > 0) {
        this.traceLeft--;
        dense = true;
        this.tracingNow = true;
        this.tracer.beginToken("decode");
      } else {
        if (this.mode === "tracing") this.buildMasks(pos);
        dense = this.kept.every((k) => k === null);
      }
    }
    this.install(dense);
    this.counters.tokens++;
    if (dense) this.counters.denseTokens++;
    this.counters.neuronSlots += this.L * this.hidden;
    for (let l = 0; l < this.L; l++) this.counters.neuronEvals += dense ? this.hidden : this.compact[l]?.kept.length ?? this.hidden;
  }

  private install(dense: boolean): void {
    for (let l = 0; l < this.L; l++) this.state.ffn[l] = dense ? null : this.compact[l]!;
  }

  private ratios(): number[] {
    const s = this.settings;
    if (s.layerSparsity) return s.layerSparsity;
    if (s.budget === "auto" && this.tracer.tokens > 0) return autoRatios(this.tracer.meanImportance(), s.sparsity);
    return uniformRatios(this.L, s.sparsity);
  }

  /** Ends a trace: scores, per-layer budgets, kept sets, compacted FFNs, drift baseline. */
  private buildMasks(pos: number): void {
    const plan = this.tracer.tokens === 0 && this.priorMasks ? this.priorMasks : this.scoreMasks();
    this.setMasks(plan.kept, plan.bias);
    if (this.drift && this.drift.tracedCount >= this.drift.opts.windowSize) this.drift.calibrate();
    this.mode = "masked";
    this.log.push({ pos, kind: "mask", remask: false });
  }

  /**
   * Kept sets and biases from the traced statistics (reads the dense FFN for dart's bias).
   * With nothing traced (dart's drift re-mask) they depend on the model and settings only:
   * computed once per model and settings, and a re-mask installs them without recomputing.
   */
  private scoreMasks(): MaskPlan {
    if (this.tracer.tokens === 0) return memoPlan(this.tf, `prior-plan ${JSON.stringify(this.settings)}`, () => this.scoreFromTrace());
    return this.scoreFromTrace();
  }

  private scoreFromTrace(): MaskPlan {
    const ratios = this.ratios();
    const scores = new Float32Array(this.hidden);
    const kept: Int32Array[] = [];
    const bias: (Float32Array | null)[] = [];
    for (let l = 0; l < this.L; l++) {
      const mean = this.scoreTraced(l, scores);
      const k = topK(scores, keptCount(this.hidden, ratios[l]!));
      kept.push(k);
      bias.push(mean && DART_TUNING.compensate ? this.prunedMeanOutput(l, k, mean) : null);
    }
    return { kept, bias };
  }

  /**
   * What a mask build with no traced tokens installs for these settings, or null when the
   * method never builds one (dense, griffin, dart-paper re-trace densely). Needs the dense model.
   */
  static priorPlan(tf: Transformer, settings: DartSettings): MaskPlan | null {
    const m = settings.method;
    if (m !== "static" && m !== "random" && m !== "dart") return null;
    const noState = { ffn: [] } as unknown as InferenceState; // only install() reads it, and nothing installs here
    const p = new MaskingPruner(tf, noState, settings, { ffnBuilder: (_l, kept) => keptOnlyFfn(kept) });
    if (m !== "dart") return { kept: p.kept.slice(), bias: p.kept.map(() => null) };
    return p.scoreMasks();
  }

  /**
   * Ends a trace that ran on this node without decoding here (a full node's trace request):
   * the masks a single node would build before its first generated token, built now at `pos`.
   */
  finishTrace(pos: number): void {
    if (this.tracingNow) this.tracer.endToken();
    this.tracingNow = false;
    if (this.mode === "tracing" && this.traceLeft === 0) this.buildMasks(pos);
  }

  /** Before a prompt token on a node that prefills with the masks a trace built elsewhere: no tracing, no counting. */
  prefillMasked(): void {
    this.install(this.kept.every((k) => k === null));
  }

  /** With no trace to build from (the full nodes unreachable): the prior masks, as a re-mask would install. */
  usePriorMasks(pos: number): void {
    if (!this.priorMasks || this.mode === "masked") return;
    this.setMasks(this.priorMasks.kept, this.priorMasks.bias);
    this.mode = "masked";
    this.log.push({ pos, kind: "mask", remask: false });
  }

  /** Scores layer l's neurons into `out`; dart also returns the blended mean activation per neuron. */
  private scoreTraced(l: number, out: Float32Array): Float32Array | null {
    const s = this.settings;
    const energy = this.tracer.rankingEnergy(l);
    if (s.method === "dart") return this.scoreBlend(l, out);
    if (s.method === "griffin") {
      scoreLayer("magnitude", energy, undefined, undefined, out);
      return null;
    }
    const proxy = s.ranking === "magnitude" ? undefined : forwardProxy(this.tf);
    scoreLayer(s.ranking, energy, proxy?.gMax[l], proxy?.gMean[l], out);
    return null;
  }

  /**
   * sum over pruned j of mean_j * W_down[:, j]: what the pruned neurons add on average.
   * mean_j blends prior and trace, (P p_j + c q_j) / (P + c), so the sum over every j is
   * (P Wp + c Wq) / (P + c), with Wp = W_down p computed once per model (priorOutput) and
   * Wq = W_down q the traced FFN outputs' mean (the tracer sums them as it goes). The sum over
   * the pruned neurons is then that total minus the kept neurons' part: at sparsity s a mask
   * reads (1 - s) of the W_down columns instead of s of them (0.3 instead of 0.7 at 0.7), and a
   * drift re-mask (prior only) reads none (scoreMasks memoises it). Equal to the direct sum to
   * float rounding (test/dart/remask-fast.test.ts).
   */
  private prunedMeanOutput(l: number, kept: Int32Array, mean: Float32Array): Float32Array {
    const n = this.hidden;
    const dim = this.tf.config.dim;
    const b = this.tf.ffn[l]!;
    const bias = new Float32Array(dim);
    const c = Math.min(this.tracer.tokens, DART_TUNING.promptCap);
    if (c > 0 && this.tracer.outputComplete && kept.length < n - kept.length) {
      const P = DART_TUNING.priorWeight;
      const total = priorOutput(this.tf, this.settings.prior)[l]!;
      const traced = new Float32Array(dim);
      this.tracer.meanOutputInto(l, traced);
      const coef = new Float32Array(kept.length);
      for (let i = 0; i < kept.length; i++) coef[i] = mean[kept[i]!]!;
      this.tf.backend.downSum(bias, b, b.slotsFor(kept), coef);
      for (let d = 0; d < dim; d++) bias[d] = (P * total[d]! + c * traced[d]!) / (P + c) - bias[d]!;
      return bias;
    }
    const isKept = new Uint8Array(n);
    for (const j of kept) isKept[j] = 1;
    const pruned = new Int32Array(n - kept.length);
    const coef = new Float32Array(pruned.length);
    for (let j = 0, i = 0; j < n; j++) if (!isKept[j]) (pruned[i] = j, coef[i++] = mean[j]!);
    // Pruned neurons' down columns are contiguous rows of the bundles: one backend kernel call.
    this.tf.backend.downSum(bias, b, b.slotsFor(pruned), coef);
    return bias;
  }

  /**
   * dart's score: the prompt's per-token moments blended with the generic prior's,
   * (P prior + c prompt) / (P + c) with c = prompt tokens (capped); then
   * score_j = ||W_down[:, j]|| * sqrt(Var a_j) with mean compensation (the mean moves
   * into the layer's bias, so pruning j only loses its fluctuation), or
   * ||W_down[:, j]|| * sqrt(E[a_j^2]) without it. Returns the blended mean activation.
   */
  private scoreBlend(l: number, out: Float32Array): Float32Array {
    const prior = genericStats(this.tf, this.settings.prior);
    const p2 = prior.meanEnergy[l]!;
    const p1 = prior.meanActivation[l]!;
    const q2 = (this.q2 ??= new Float32Array(this.hidden));
    const q1 = (this.q1 ??= new Float32Array(this.hidden));
    this.tracer.meansInto(l, q2, q1);
    const norms = downNorms(this.tf)[l]!;
    const c = Math.min(this.tracer.tokens, DART_TUNING.promptCap);
    const P = DART_TUNING.priorWeight;
    const mean = new Float32Array(this.hidden);
    for (let j = 0; j < this.hidden; j++) {
      const m1 = (P * p1[j]! + c * q1![j]!) / (P + c);
      const m2 = (P * p2[j]! + c * q2[j]!) / (P + c);
      mean[j] = m1;
      const spread = DART_TUNING.compensate ? Math.max(m2 - m1 * m1, 0) : m2;
      out[j] = norms[j]! * Math.sqrt(spread);
    }
    return mean;
  }

  private fixedMasks(): Int32Array[] {
    const s = this.settings;
    const ratios = s.layerSparsity ?? uniformRatios(this.L, s.sparsity);
    const masks: Int32Array[] = [];
    if (s.method === "random") {
      const rng = new Rng(0x5eed);
      for (let l = 0; l < this.L; l++) {
        const idx = Array.from({ length: this.hidden }, (_, i) => i);
        for (let i = idx.length - 1; i > 0; i--) {
          const j = rng.nextU32() % (i + 1);
          [idx[i], idx[j]] = [idx[j]!, idx[i]!];
        }
        masks.push(Int32Array.from(idx.slice(0, keptCount(this.hidden, ratios[l]!))).sort());
      }
      return masks;
    }
    const generic = genericStats(this.tf, s.prior);
    const proxy = s.ranking === "magnitude" ? undefined : forwardProxy(this.tf);
    const scores = new Float32Array(this.hidden);
    for (let l = 0; l < this.L; l++) {
      scoreLayer(s.ranking, generic.meanEnergy[l]!, proxy?.gMax[l], proxy?.gMean[l], scores);
      masks.push(topK(scores, keptCount(this.hidden, ratios[l]!)));
    }
    return masks;
  }

  /** Installs kept sets; a ratio of 0 keeps the layer dense (null). Unchanged layers keep their buffers. */
  setMasks(masks: (Int32Array | null)[], biases?: (Float32Array | null)[]): void {
    masks.forEach((kept, l) => {
      const full = !kept || kept.length >= this.hidden;
      const prev = this.kept[l];
      if (full) {
        this.kept[l] = null;
        this.compact[l] = null;
        return;
      }
      if (!prev || prev.length !== kept.length || prev.some((v, i) => v !== kept[i])) {
        this.kept[l] = kept;
        this.compact[l] = this.buildFfn(l, kept);
      }
      this.compact[l]!.bias = biases?.[l] ?? null;
    });
  }

  events(): DriftEvent[] {
    return this.log.slice();
  }

  /** Takes the events logged so far and clears the log (for callers that persist them). */
  drainEvents(): DriftEvent[] {
    const e = this.log;
    this.log = [];
    return e;
  }

  masks(): LayerMaskSummary[] {
    return this.kept.map((k, layer) => ({ layer, kept: k ? k.length : this.hidden, total: this.hidden }));
  }

  stats(): PrunerStats {
    const c = this.counters;
    return {
      tokens: c.tokens,
      denseTokens: c.denseTokens,
      effectiveSparsity: c.neuronSlots ? 1 - c.neuronEvals / c.neuronSlots : 0,
      remasks: c.remasks,
    };
  }

  /**
   * The state as a compact version-2 blob (state-codec.ts): masks as one bitset, and the
   * tracer's per-neuron accumulators only while a trace is open (mode "tracing"): a masked
   * pruner never reads them again before a new trace resets them (startTrace), so a masked
   * state carries masks, biases and drift vectors only (docs/session-state.md).
   */
  serialize(): Uint8Array {
    const t = this.tracer;
    const d = this.drift;
    const header = {
      shape: [this.L, this.hidden, this.tf.config.dim],
      settings: this.settings,
      mode: this.mode,
      traceLeft: this.traceLeft,
      pendingRemask: this.pendingRemask,
      // A traced forward whose token is not yet counted is counted now; restore starts between forwards.
      tracerTokens: t.tokens + (this.tracingNow ? 1 : 0),
      tracerOpened: t.opened,
      keptLengths: this.kept.map((k) => (k ? k.length : 0)),
      biasLayers: this.compact.map((c) => (c?.bias ? 1 : 0)),
      fullLayers: this.kept.map((k) => k === null),
      counters: this.counters,
      drift: d && {
        calibWindows: d.calibWindows.length, currentCount: d.currentCount, tracedCount: d.tracedCount,
        hasBaseline: d.baseline !== null, threshold: d.threshold, pressure: d.pressure,
      },
    };
    const arrays: Record<string, StateArray> = {
      keptBits: { bits: keptToFlags(this.kept, this.hidden) },
      biases: concat(this.compact.map((c) => c?.bias ?? new Float32Array(0)), f32),
    };
    if (this.mode === "tracing") {
      arrays.impact = t.impact; // per-layer cos and norm-ratio sums (auto budget)
      // f32: rounded to f16 they change masks on the evaluation sets (test/dart/state-precision.test.ts).
      arrays.energy = concat(t.energy, f32);
      if (t.firstMoment.length) arrays.firstMoment = concat(t.firstMoment, f32);
      if (t.outputMoment.length && t.outputComplete) arrays.outputMoment = concat(t.outputMoment, f32);
    }
    if (d) {
      arrays.driftTotal = d.total;
      arrays.driftCurrent = d.current;
      arrays.driftWindows = concat(d.calibWindows, f32);
      if (d.baseline) arrays.driftBaseline = d.baseline;
    }
    return encodeState(header, arrays);
  }

  /** Restores the state serialize() wrote (version 2, or version 1 of earlier builds); the settings come from the state itself. */
  static restore(tf: Transformer, state: InferenceState, bytes: Uint8Array, options: PrunerOptions = {}): MaskingPruner {
    type Header = ReturnType<typeof JSON.parse>;
    const { header: h, arrays: a } = decodeState<Header>(bytes);
    const c = tf.config;
    const H = c.hiddenDim;
    // v1 always stored the accumulators; v2 stores the kept bitset always, the accumulators while tracing.
    const shapeOk = a.keptBits ? a.keptBits.length === c.nLayers * H : (a.energy as Float32Array | undefined)?.length === c.nLayers * H;
    if (!shapeOk || (a.energy && a.energy.length !== c.nLayers * H)) throw new StateFormatError("tracer state belongs to a model of another shape");
    const p = new MaskingPruner(tf, state, h.settings as DartSettings, options);
    p.mode = h.mode;
    p.traceLeft = h.traceLeft;
    p.pendingRemask = h.pendingRemask;
    p.counters = { ...h.counters };
    p.tracer.tokens = h.tracerTokens;
    if (a.energy) split(a.energy as Float32Array, H).forEach((e, l) => p.tracer.energy[l]!.set(e));
    if (a.firstMoment) split(a.firstMoment as Float32Array, H).forEach((e, l) => p.tracer.firstMoment[l]!.set(e));
    // A trace saved without the FFN output sums (earlier builds) computes dart's bias the direct way.
    if (a.outputMoment && a.outputMoment.length === c.nLayers * c.dim) split(a.outputMoment as Float32Array, c.dim).forEach((o, l) => p.tracer.outputMoment[l]!.set(o));
    else if (p.tracer.outputMoment.length && p.tracer.tokens > 0) p.tracer.outputComplete = false;
    p.tracer.opened = h.tracerOpened === true;
    // Layer impact sums (cos, then norm ratio, per layer). A v1 trace carried one sum of per-token
    // products instead: kept as the ratio sums with zero cos sums, the mean importance stays what it was.
    if (a.impact && a.impact.length === p.tracer.impact.length) p.tracer.impact.set(a.impact as Float64Array);
    else if (a.importance && a.importance.length === c.nLayers) p.tracer.impact.set(a.importance as Float64Array, c.nLayers);
    let off = 0;
    const masks = (h.keptLengths as number[]).map((n, l) => {
      if (h.fullLayers[l]) return null;
      if (a.keptBits) return flagsToKept(a.keptBits as Uint8Array, l, H);
      const k = (a.kept as Int32Array).slice(off, off + n); // v1: kept lists end to end
      off += n;
      return k;
    });
    const biasRows = split(a.biases as Float32Array, c.dim);
    let b = 0;
    p.setMasks(masks, (h.biasLayers as number[]).map((has) => (has ? biasRows[b++]! : null)));
    const d = p.drift;
    if (d && h.drift) {
      d.total.set(a.driftTotal as Float32Array);
      d.current.set(a.driftCurrent as Float32Array);
      d.calibWindows = split(a.driftWindows as Float32Array, c.dim).slice(0, h.drift.calibWindows);
      d.currentCount = h.drift.currentCount;
      d.tracedCount = h.drift.tracedCount;
      d.baseline = h.drift.hasBaseline ? (a.driftBaseline as Float32Array).slice() : null;
      d.threshold = h.drift.threshold;
      d.pressure = h.drift.pressure;
    }
    return p;
  }
}
