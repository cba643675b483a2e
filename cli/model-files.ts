// Loading a model and its tokenizer from the file system for the CLI.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ggufTokenizer, parseGguf } from "../shared/model/gguf.ts";
import { isGguf, loadModel, loadTokenizer } from "../shared/model/load.ts";
import { ModelFormatError } from "../shared/model/config.ts";
import { notAModel } from "../shared/model/not-a-model.ts";
import type { LoadedModel } from "../shared/model/weights.ts";
import { Transformer } from "../shared/engine/transformer.ts";
import { ggufQ8Model } from "../shared/engine/q8-model.ts";
import type { WeightFormat } from "../shared/engine/quantize-weights.ts";
import { readLlama2cTokenizer, Tokenizer } from "../shared/tokenizer/tokenizer.ts";
import { UsageError } from "./usage.ts";
import { backendFromEnv } from "./backend-env.ts";

export interface ModelBundle {
  model: LoadedModel;
  transformer: Transformer;
  tokenizer: Tokenizer;
  /** The model file's bytes (the key of the on-disk prior cache). */
  bytes: Uint8Array;
}

function readFile(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
  return new Uint8Array(readFileSync(path));
}

/**
 * A llama2.c checkpoint has no tokenizer inside: without --tokenizer, look beside the
 * model for tokenizer.bin, then tok<vocab>.bin (llama2.c's naming for custom vocabularies).
 */
function findTokenizer(modelPath: string, vocabSize: number): string | null {
  for (const name of ["tokenizer.bin", `tok${vocabSize}.bin`]) {
    const p = join(dirname(modelPath), name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Files this small may be a tokenizer passed as the model (the largest vocabularies' are a few MiB). */
const TOKENIZER_MAX_BYTES = 32 * 1024 * 1024;

/** A tokenizer passed as --model is one line saying so, before anything is started or loaded. */
export function checkNotTokenizer(modelPath: string, bytes?: Uint8Array): void {
  if (!bytes && statSync(modelPath).size > TOKENIZER_MAX_BYTES) return;
  const why = notAModel(bytes ?? new Uint8Array(readFileSync(modelPath)), modelPath);
  if (why) throw new ModelFormatError(why);
}

export function loadBundle(modelPath: string, tokenizerPath?: string, opts: { maxContext?: number } = {}): ModelBundle {
  const { model, tokenizer, bytes } = loadModelFiles(modelPath, tokenizerPath, opts);
  return { model, transformer: new Transformer(model, { backend: backendFromEnv() }), tokenizer, bytes };
}

/** The model (fp32) and its tokenizer, without an engine (what sharding needs). */
export function loadModelFiles(modelPath: string, tokenizerPath?: string, opts: { maxContext?: number } = {}): Omit<ModelBundle, "transformer"> {
  const bytes = readFile(modelPath, "model file");
  checkNotTokenizer(modelPath, bytes);
  const model = loadModel(bytes, opts);
  let tokBytes: Uint8Array | null = null;
  if (tokenizerPath) tokBytes = readFile(tokenizerPath, "tokenizer file");
  else if (!isGguf(bytes)) {
    const found = findTokenizer(modelPath, model.config.vocabSize);
    if (!found) throw new UsageError(`no tokenizer for ${modelPath}: pass --tokenizer <tokenizer.bin>`);
    tokBytes = readFile(found, "tokenizer file");
  }
  return { model, tokenizer: loadTokenizer(model, bytes, tokBytes), bytes };
}

/**
 * A Transformer and tokenizer for serving or evaluating, in weight format `weights`: q8_0 holds
 * Q8_0 matrices and FFN bundles (a GGUF file's q8_0 tensors as they are; others quantized at load).
 */
export function loadEngineBundle(modelPath: string, tokenizerPath?: string,
  opts: { maxContext?: number; weights?: WeightFormat } = {}): Omit<ModelBundle, "model"> {
  if (opts.weights !== "q8_0") return loadBundle(modelPath, tokenizerPath, opts);
  const bytes = readFile(modelPath, "model file");
  if (!isGguf(bytes)) {
    // No fp32 engine first: the Q8_0 one quantizes the loaded matrices straight into its memory.
    const b = loadModelFiles(modelPath, tokenizerPath, opts);
    return { transformer: new Transformer(b.model, { backend: backendFromEnv(), weights: "q8_0" }), tokenizer: b.tokenizer, bytes };
  }
  const model = ggufQ8Model(bytes, opts);
  const tokenizer = tokenizerPath
    ? new Tokenizer(readLlama2cTokenizer(readFile(tokenizerPath, "tokenizer file"), model.config.vocabSize))
    : new Tokenizer(ggufTokenizer(parseGguf(bytes)));
  return { transformer: new Transformer(model, { backend: backendFromEnv(), weights: "q8_0" }), tokenizer, bytes };
}

/** Only the tokenizer of a model (GGUF: from the metadata, no tensor is decoded). */
export function loadTokenizerOnly(modelPath: string, tokenizerPath?: string): Tokenizer {
  const bytes = readFile(modelPath, "model file");
  if (isGguf(bytes) && !tokenizerPath) return new Tokenizer(ggufTokenizer(parseGguf(bytes)));
  // llama2.c's header: the sixth int32 is the vocabulary size (negative for an untied classifier).
  const vocabSize = isGguf(bytes) || bytes.byteLength < 28 ? undefined : Math.abs(new DataView(bytes.buffer, bytes.byteOffset).getInt32(20, true));
  const path = tokenizerPath ?? (vocabSize !== undefined ? findTokenizer(modelPath, vocabSize) : null);
  if (!path) throw new UsageError(`no tokenizer for ${modelPath}: pass --tokenizer <tokenizer.bin>`);
  return new Tokenizer(readLlama2cTokenizer(readFile(path, "tokenizer file"), vocabSize));
}
