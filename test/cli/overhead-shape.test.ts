// `dart overhead --shape`: state bytes and per-turn transfer for shapes we cannot run,
// checked against sizes counted by hand from the shapes, and the 8B target (1 MiB a turn).
import { describe, expect, it } from "vitest";
import { dart } from "../helpers/run-cli.ts";

interface Split { stateBytes: number; turnTransferBytes: number; toNodesBytes: number; fromNodesBytes: number; stateCrossings: number; nodeToNodeBytes: number; kvHandoffBytes: number; coldTurnTransferBytes: number; inlineTurnTransferBytes: number }
interface Out { split: Split; stateBytes: number; turnTransferBytes: number; toNodeBytes: number; fromNodeBytes: number; coldTurnTransferBytes: number; config: { nLayers: number; hiddenDim: number; dim: number; nHeads: number; nKvHeads: number; vocabSize: number } }

describe("dart overhead --shape", () => {
  for (const shape of ["stories260K", "stories110M", "llama3-8b"]) {
    it(shape, () => {
      const r = dart(["overhead", "--shape", shape, "--json"]);
      expect(r.code).toBe(0);
      const o = JSON.parse(r.stdout) as Out;
      const { nLayers: L, hiddenDim: H, dim: D } = o.config;
      // Masked dart state: one bit per neuron, an f32 bias per layer, three f32 drift vectors, a JSON header.
      const floor = (L * H) / 8 + L * D * 4 + 3 * D * 4;
      expect(o.stateBytes).toBeGreaterThanOrEqual(floor);
      expect(o.stateBytes).toBeLessThan(floor + 8192);
      // Steady state sends a version, not the state; the answer carries the new state as base64.
      expect(o.toNodeBytes).toBeLessThan(16_384);
      expect(o.fromNodeBytes).toBeGreaterThan((o.stateBytes * 4) / 3);
      expect(o.turnTransferBytes).toBe(o.toNodeBytes + o.fromNodeBytes);
      expect(o.coldTurnTransferBytes - o.turnTransferBytes).toBeGreaterThan((o.stateBytes * 4) / 3 - 100); // minus the version field
      if (shape === "llama3-8b") expect(o.turnTransferBytes).toBeLessThanOrEqual(1024 * 1024);
      // Split turn: the KV handoff (f32 keys and values of the 33 traced positions, base64), the
      // traced state and the last logits (f32 over the vocabulary) go node to node, and the final
      // state back; the Session object reads the state once.
      const kvDim = (D / o.config.nHeads) * o.config.nKvHeads;
      const b64 = (n: number) => Math.ceil(n / 3) * 4;
      const sp = o.split;
      expect(sp.stateBytes).toBe(o.stateBytes);
      expect(sp.kvHandoffBytes).toBe(2 * b64(L * 33 * kvDim * 4));
      expect(sp.turnTransferBytes).toBe(sp.toNodesBytes + sp.fromNodesBytes);
      expect(sp.stateCrossings).toBe(1);
      expect(sp.toNodesBytes).toBeLessThan(2 * 16_384); // two requests, neither with a state
      expect(sp.fromNodesBytes).toBeGreaterThan(b64(o.stateBytes));
      expect(sp.fromNodesBytes).toBeLessThan(2 * b64(o.stateBytes) + 16_384);
      expect(sp.nodeToNodeBytes).toBeGreaterThan(sp.kvHandoffBytes + 2 * b64(o.stateBytes) + b64(o.config.vocabSize * 4));
      expect(sp.coldTurnTransferBytes - sp.turnTransferBytes).toBeGreaterThan(b64(o.stateBytes));
      // Without a handoff the bulk crosses the Session object twice: state four times, KV twice.
      expect(sp.inlineTurnTransferBytes).toBeGreaterThan(2 * sp.kvHandoffBytes + 4 * b64(o.stateBytes));
      if (shape === "llama3-8b") expect(sp.turnTransferBytes).toBeLessThanOrEqual(1024 * 1024);
    });
  }

  it("an unknown shape is a usage error", () => {
    const r = dart(["overhead", "--shape", "gpt-9"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown --shape "gpt-9"/);
  });
});
