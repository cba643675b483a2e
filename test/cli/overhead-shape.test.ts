// `dart overhead --shape`: state bytes and per-turn transfer for shapes we cannot run,
// checked against sizes counted by hand from the shapes, and the 8B target (1 MiB a turn).
import { describe, expect, it } from "vitest";
import { dart } from "../helpers/run-cli.ts";

interface Out { split: { turnTransferBytes: number; toNodesBytes: number; fromNodesBytes: number; stateCrossings: number; kvHandoffBytes: number }; stateBytes: number; turnTransferBytes: number; toNodeBytes: number; fromNodeBytes: number; coldTurnTransferBytes: number; config: { nLayers: number; hiddenDim: number; dim: number; nHeads: number; nKvHeads: number } }

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
      // Split turn as the Session object runs it today: the state crosses four times and the KV
      // handoff (f32 keys and values of the 33 traced positions, base64) twice.
      const kvDim = (D / o.config.nHeads) * o.config.nKvHeads;
      expect(o.split.kvHandoffBytes).toBe(2 * Math.ceil((L * 33 * kvDim * 4) / 3) * 4);
      expect(o.split.turnTransferBytes).toBe(o.split.toNodesBytes + o.split.fromNodesBytes);
      expect(o.split.turnTransferBytes).toBeGreaterThan(2 * o.split.kvHandoffBytes + 4 * ((o.stateBytes * 4) / 3));
    });
  }

  it("an unknown shape is a usage error", () => {
    const r = dart(["overhead", "--shape", "gpt-9"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown --shape "gpt-9"/);
  });
});
