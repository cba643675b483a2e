// A shard set in an R2 bucket, read through a Worker binding (inside workerd).
// Typed structurally so the file checks without @cloudflare/workers-types;
// the runtime's R2Bucket satisfies it.
import { joinKey, type ObjectSource } from "../../shared/weights/source.ts";

export interface R2BucketLike {
  get(key: string): Promise<{ body: ReadableStream; size: number; arrayBuffer(): Promise<ArrayBuffer> } | null>;
  put(key: string, value: ArrayBuffer | Uint8Array): Promise<unknown>;
}

export class R2Source implements ObjectSource {
  readonly bucket: R2BucketLike;
  readonly prefix: string;
  readonly description: string;

  constructor(bucket: R2BucketLike, prefix = "", name = "WEIGHTS") {
    this.bucket = bucket;
    this.prefix = prefix;
    this.description = `r2 ${name}/${prefix}`;
  }

  async get(key: string): Promise<Uint8Array | null> {
    const obj = await this.bucket.get(joinKey(this.prefix, key));
    return obj ? new Uint8Array(await obj.arrayBuffer()) : null;
  }

  /** An ObjectSink writing into the bucket under the prefix. */
  put = async (key: string, bytes: Uint8Array): Promise<void> => {
    await this.bucket.put(joinKey(this.prefix, key), bytes);
  };
}
