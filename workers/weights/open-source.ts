// Picks the ObjectSource for a shard-set location on a Node.js inference node:
// an http(s) URL (the weights Worker route over R2) or a local folder.
import type { ObjectSource } from "../../shared/weights/source.ts";
import { HttpSource } from "../../shared/weights/http-source.ts";
import { FolderSource } from "./folder-source.ts";

export function sourceFor(location: string, headers: Record<string, string> = {}): ObjectSource {
  if (!/^https?:\/\//.test(location)) return new FolderSource(location);
  // `headers` (the node's bearer for the gateway's /weights route) go with every request.
  return new HttpSource(location, (u, init = {}) => fetch(u, { ...init, headers: { ...headers, ...init.headers } }));
}
