// Evaluation documents for the online protocol, built from plain texts.
// Each document is [BOS] + tokens; its first `promptLen` tokens are the prompt.
// Topic-switch documents record where the second topic starts (`switchAt`).
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface EvalDocument {
  name: string;
  tokens: number[];
  promptLen: number;
  switchAt?: number;
}

export interface DocumentOptions {
  docs: number;
  promptLen: number;
  /** Tokens of each part (the whole document for single-topic sets). */
  partLen: number;
}

export const DEFAULT_DOCUMENTS: DocumentOptions = { docs: 16, promptLen: 32, partLen: 128 };

/** TinyStories-style text: stories separated by blank lines. */
export function splitStories(text: string): string[] {
  return text.split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Paragraph-sized passages of a speech file (one speech per line), cut at sentence ends. */
export function speechPassages(text: string, approxChars: number): string[] {
  const out: string[] = [];
  for (const speech of text.split("\n").filter((l) => l.trim())) {
    const sentences = speech.match(/[^.!?]+[.!?]+["')\]]*\s*/g) ?? [speech];
    let cur = "";
    for (const s of sentences) {
      cur += s;
      if (cur.length >= approxChars) {
        out.push(cur.trim());
        cur = "";
      }
    }
  }
  return out;
}

function words(s: string): Set<string> {
  return new Set(s.toLowerCase().match(/[a-z']+/g) ?? []);
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let inter = 0;
  for (const w of a) if (b.has(w)) inter++;
  return inter / (a.size + b.size - inter || 1);
}

/** Stories long enough to fill `minTokens`, taken in file order (deterministic). */
function longStories(tok: Tokenizer, stories: string[], minTokens: number, count: number, skip = 0): { text: string; ids: number[] }[] {
  const out: { text: string; ids: number[] }[] = [];
  for (const s of stories.slice(skip)) {
    const ids = tok.encode(s, { bos: false });
    if (ids.length >= minTokens) out.push({ text: s, ids });
    if (out.length === count) break;
  }
  return out;
}

export function inDomainDocuments(tok: Tokenizer, storiesText: string, o: DocumentOptions = DEFAULT_DOCUMENTS): EvalDocument[] {
  const len = 2 * o.partLen;
  return longStories(tok, splitStories(storiesText), len, o.docs).map((s, i) => ({
    name: `story-${i}`,
    tokens: [tok.bosId, ...s.ids.slice(0, len)],
    promptLen: o.promptLen,
  }));
}

/** A story's first part followed by a State of the Union passage. */
export function storyToSpeechDocuments(tok: Tokenizer, storiesText: string, speechText: string, o: DocumentOptions = DEFAULT_DOCUMENTS): EvalDocument[] {
  const stories = longStories(tok, splitStories(storiesText), o.partLen, o.docs, 500);
  const passages = speechPassages(speechText, o.partLen * 6);
  const stride = Math.max(1, Math.floor(passages.length / o.docs));
  return stories.map((s, i) => {
    const speech = tok.encode("\n" + passages[(i * stride) % passages.length]!, { bos: false }).slice(0, o.partLen);
    const first = s.ids.slice(0, o.partLen);
    return { name: `story-speech-${i}`, tokens: [tok.bosId, ...first, ...speech], promptLen: o.promptLen, switchAt: 1 + first.length };
  });
}

/** A story followed by the least similar (word-overlap) story among later candidates. */
export function storyToStoryDocuments(tok: Tokenizer, storiesText: string, o: DocumentOptions = DEFAULT_DOCUMENTS): EvalDocument[] {
  const pool = longStories(tok, splitStories(storiesText), o.partLen, o.docs * 9, 1000);
  const heads = pool.slice(0, o.docs);
  const candidates = pool.slice(o.docs);
  const used = new Set<number>();
  return heads.map((s, i) => {
    const ws = words(s.text);
    let best = -1, bestSim = Infinity;
    candidates.forEach((c, j) => {
      if (used.has(j)) return;
      const sim = jaccard(ws, words(c.text));
      if (sim < bestSim) [best, bestSim] = [j, sim];
    });
    used.add(best);
    const first = s.ids.slice(0, o.partLen);
    const second = tok.encode("\n" + candidates[best]!.text, { bos: false }).slice(0, o.partLen);
    return { name: `story-story-${i}`, tokens: [tok.bosId, ...first, ...second], promptLen: o.promptLen, switchAt: 1 + first.length };
  });
}

/** Documents from any text: paragraphs (blank-line separated), prompt then the rest, up to `maxLen` tokens. */
export function textDocuments(tok: Tokenizer, text: string, o: DocumentOptions, maxLen: number): EvalDocument[] {
  return splitStories(text)
    .map((p, i) => ({ name: `doc-${i}`, tokens: [tok.bosId, ...tok.encode(p, { bos: false }).slice(0, maxLen - 1)], promptLen: o.promptLen }))
    .filter((d) => d.tokens.length > d.promptLen + 1)
    .slice(0, o.docs);
}
