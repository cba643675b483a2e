// What the workerd tests' global setup (Node) provides to tests running in workerd.

export interface WorkerdWeightsFixture {
  /** Object key -> base64 bytes of the real stories260K shard set (N = 16). */
  objects: Record<string, string>;
  /** Two masks (kept neurons per layer) and sha256 of each layer's compactFromDense gate|up|downT. */
  masks: { kept: number[][]; digests: string[] }[];
}

declare module "vitest" {
  interface ProvidedContext {
    weightsFixture: WorkerdWeightsFixture;
  }
}
