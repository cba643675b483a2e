// A shard set in a local folder (Node.js): what `dart shard --out` writes and a
// node or the bench reads.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { ObjectSource } from "../../shared/weights/source.ts";

export class FolderSource implements ObjectSource {
  readonly root: string;
  readonly description: string;
  constructor(root: string) {
    this.root = resolve(root);
    this.description = `folder ${this.root}`;
  }

  private path(key: string): string {
    const p = resolve(join(this.root, key));
    if (!p.startsWith(this.root + "/")) throw new RangeError(`object key ${key} escapes ${this.root}`);
    return p;
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  /** An ObjectSink writing into the folder. */
  put = async (key: string, bytes: Uint8Array): Promise<void> => {
    const p = this.path(key);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, bytes);
  };
}
