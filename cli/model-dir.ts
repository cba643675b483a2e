// Where the CLI finds model files and evaluation texts: $DART_MODEL_DIR, else ../shared/data
// beside the repository (as for the npm scripts and the tests), wherever the command runs from.
import { resolve } from "node:path";

export function modelDir(): string {
  return resolve(process.env.DART_MODEL_DIR ?? resolve(import.meta.dirname, "../../shared/data"));
}
