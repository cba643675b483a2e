// The standard evaluation sets, built from the data folder's texts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "../shared/tokenizer/tokenizer.ts";
import {
  DEFAULT_DOCUMENTS, inDomainDocuments, storyToSpeechDocuments, storyToStoryDocuments, textDocuments,
  type DocumentOptions, type EvalDocument,
} from "../shared/eval/documents.ts";
import { UsageError } from "./usage.ts";

export const SETS = ["in-domain", "story-speech", "story-story"] as const;
export type SetName = (typeof SETS)[number];

export function buildSet(name: string, tok: Tokenizer, dataDir: string, o: DocumentOptions = DEFAULT_DOCUMENTS): EvalDocument[] {
  const read = (f: string) => readFileSync(join(dataDir, f), "utf8");
  switch (name) {
    case "in-domain": return inDomainDocuments(tok, read("tinystories-valid-dev.txt"), o);
    case "story-speech": return storyToSpeechDocuments(tok, read("tinystories-valid-dev.txt"), read("sotu-2016-2019.txt"), o);
    case "story-story": return storyToStoryDocuments(tok, read("tinystories-valid-dev.txt"), o);
    default: throw new UsageError(`unknown --set "${name}" (one of ${SETS.join(", ")})`);
  }
}

export function fileDocuments(tok: Tokenizer, path: string, o: DocumentOptions, maxLen: number): EvalDocument[] {
  return textDocuments(tok, readFileSync(path, "utf8"), o, maxLen);
}
