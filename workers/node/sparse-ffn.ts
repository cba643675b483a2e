// A sparse node's FFN: only the neurons of the shards its masks keep, decoded once into the
// Transformer's neuron-major FFN bundles (resident-ffn.ts: partial residency, once per node
// whatever number of sessions keeps them), never a dense matrix and no shard bytes besides.
// Before a turn it makes resident what the turn's masks keep plus the prior masks re-masks
// install, fetching only the shards it lacks; a mask is then an index list over resident
// neurons (no gather, no copy). After the turn the store trims back to the budget (LRU),
// keeping the last masks' and every prior's shards.
import { createPruner, DartSettingsError, StateFormatError, type PrunerOptions } from "../../shared/dart/index.ts";
import { keptOnlyFfn, type MaskPlan } from "../../shared/dart/masking-pruner.ts";
import { ResidentFfn } from "../../shared/weights/resident-ffn.ts";
import type { InferenceState, Transformer } from "../../shared/engine/transformer.ts";
import { fromBase64 } from "../../shared/serving/base64.ts";
import type { NodeTurnRequest } from "../../shared/serving/protocol.ts";
import { decodePlan } from "../../shared/serving/tensor-b64.ts";
import { shardsForKept } from "../../shared/weights/ffn-loader.ts";
import { storeDelta, type ShardId, type WeightStore, type WeightStoreStats } from "../../shared/weights/store.ts";
import type { TurnWeightStats } from "./node-weights.ts";
import { needsPriorMasks } from "./sparse-decode.ts";

const MAX_PRIORS = 16;

export class SparseFfn {
  readonly store: WeightStore;
  private readonly tf: Transformer;
  /** The FFN neurons held (the Transformer's bundles, filled from shards). */
  readonly ffn: ResidentFfn;
  /** Prior masks by settings: node-level, so their shards stay resident once for every session. */
  private readonly priors = new Map<string, MaskPlan>();
  /** The kept sets built during the current turn, by layer (the final masks at its end). */
  private built = new Map<number, Int32Array>();
  private layersBuilt = 0;
  private before: WeightStoreStats;
  private shardsNeeded = 0;
  private prepareMs = 0;

  constructor(store: WeightStore, tf: Transformer) {
    this.store = store;
    this.tf = tf;
    this.ffn = new ResidentFfn(store, tf);
    this.before = store.stats();
  }

  /** Bytes of the model's whole FFN in memory (in the engine's weight format). */
  get ffnBytes(): number {
    return this.ffn.ffnBytes;
  }

  /** FFN bytes held now: the resident neurons. */
  get residentBytes(): number {
    return this.ffn.residentBytes;
  }

  private shardIds(kept: (Int32Array | null)[] | Map<number, Int32Array>): ShardId[] {
    const ids: ShardId[] = [];
    const m = this.store.manifest;
    for (const [layer, k] of kept.entries()) {
      // A dense layer (null) is never built on a sparse node: the turn fails on it, fetching nothing.
      if (!k) continue;
      for (const index of shardsForKept(k, m.neuronsPerShard, this.store.slots[layer])) ids.push({ layer, index });
    }
    return ids;
  }

  /** The kept sets the session's pruner state installs (restored with a builder that only records). */
  private keptInState(req: NodeTurnRequest, prior: MaskPlan | undefined): Map<number, Int32Array> {
    const seen = new Map<number, Int32Array>();
    const record: PrunerOptions = {
      ffnBuilder: (l, kept) => {
        seen.set(l, kept);
        return keptOnlyFfn(kept);
      },
      priorMasks: prior,
    };
    const noState = { ffn: [] } as unknown as InferenceState; // restoring installs nothing
    if (needsPriorMasks(req.dart.method) && !prior) return seen; // would score on the dense FFN: the turn is refused
    try {
      createPruner(this.tf, noState, req.dart, req.prunerState ? fromBase64(req.prunerState) : undefined, record);
    } catch (e) {
      if (!(e instanceof StateFormatError || e instanceof RangeError || e instanceof DartSettingsError)) throw e; // runTurn reports it
    }
    return seen;
  }

  /** Before a turn: the prior masks the request brings, then every shard the turn can build. Returns the pruner's options. */
  async prepare(req: NodeTurnRequest): Promise<PrunerOptions> {
    const t0 = performance.now();
    this.before = this.store.stats();
    this.built = new Map();
    this.layersBuilt = 0;
    const key = JSON.stringify(req.dart);
    const c = this.tf.config;
    if (req.trace?.prior) {
      let plan: MaskPlan | null = null;
      try {
        plan = decodePlan(req.trace.prior, c.nLayers, c.hiddenDim, c.dim);
      } catch {
        // Not this model's shape: ignored; the turn runs on the masks in force, or is refused without any.
      }
      if (plan && !this.priors.has(key) && this.priors.size >= MAX_PRIORS) this.priors.delete(this.priors.keys().next().value!);
      if (plan) this.priors.set(key, plan);
    }
    const prior = this.priors.get(key);
    const ids = [...this.shardIds(this.keptInState(req, prior)), ...(prior ? this.shardIds(prior.kept) : [])];
    this.shardsNeeded = new Set(ids.map((id) => `${id.layer}/${id.index}`)).size;
    if (ids.length) await this.store.ensure(ids, { overBudget: true });
    this.prepareMs = performance.now() - t0;
    return {
      ffnBuilder: (layer, kept) => {
        this.built.set(layer, kept);
        this.layersBuilt++;
        return this.ffn.build(layer, kept);
      },
      priorMasks: prior,
    };
  }

  /** Bytes fetched since prepare() began. */
  fetchedSincePrepare(): number {
    return this.store.stats().bytesFetched - this.before.bytesFetched;
  }

  /** After a turn: back under the budget, keeping the final masks and every prior's shards. */
  finish(): TurnWeightStats {
    const keep = [...this.shardIds(this.built), ...[...this.priors.values()].flatMap((p) => this.shardIds(p.kept))];
    this.store.trim(keep);
    return {
      need: "kept",
      shardsNeeded: this.shardsNeeded,
      ...storeDelta(this.store.stats(), this.before),
      residentBytes: this.ffn.residentBytes,
      layersBuilt: this.layersBuilt,
      prepareMs: this.prepareMs,
    };
  }
}
