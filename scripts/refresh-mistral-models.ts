// Regenerates src/models/mistral-models.json from Mistral's public docs repository
// (github.com/mistralai/platform-docs-public): the model cards in
// src/schema/models/models/*.ts are evaluated as they are and reduced to what batchd needs.
//
//   node --import tsx scripts/refresh-mistral-models.ts [path to a clone or bare git dir] [commit]
//
// Only models Mistral still lists as GA, Public Preview or Deprecated are kept (a retired
// model answers 404 at Mistral); OCR, audio and text-to-speech models are left out, as are
// cards without an API name. A few legacy aliases that Mistral's own SDK examples still use
// are not on the cards; they are added from EXTRA_ALIASES below, each with its evidence.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DOCS_REPO = 'mistralai/platform-docs-public';
const CARDS_DIR = 'src/schema/models/models';
const OUT = fileURLToPath(new URL('../src/models/mistral-models.json', import.meta.url));

interface PriceLine {
  price: number;
  denominator: string;
  label?: string;
}
interface DocsCard {
  name: string;
  slug: string;
  status: 'PublicPreview' | 'GA' | 'Deprecated' | 'Retired';
  releaseDate?: string;
  contextLength?: string | null;
  describe: (l: { text: (s: string) => string }) => { description: string; shortDescription: string };
  identifiers: { apiNames: string[]; aliases?: string[] };
  capabilities: { input: string[]; output: string[]; features: string[] };
  pricing:
    | { type: 'flat'; price: number; denominator: string }
    | { type: 'range'; input: number; output: number; denominator: string }
    | { type: 'custom'; input: PriceLine[]; output: PriceLine[] };
  metadata?: { deprecationDate?: string; retirementDate?: string; replacement?: string };
  tags?: string[];
}

/** Names Mistral's SDK examples and docs use that the model cards do not list. */
const EXTRA_ALIASES: { alias: string; target: string; evidence: string }[] = [
  {
    alias: 'mistral-tiny-latest',
    target: 'open-mistral-nemo-2407',
    evidence:
      "Mistral's GET /v1/models (captured 2025-03-17 in github.com/simonw/llm-mistral/issues/23) lists mistral-tiny-latest with name open-mistral-nemo and aliases open-mistral-nemo, open-mistral-nemo-2407, mistral-tiny-2407. Used by @mistralai/mistralai examples/src/async_structured_outputs.ts.",
  },
  { alias: 'mistral-tiny-2407', target: 'open-mistral-nemo-2407', evidence: 'Same /v1/models listing as mistral-tiny-latest.' },
  {
    alias: 'mistral-tiny',
    target: 'open-mistral-nemo-2407',
    evidence:
      'changelog/en/2024-02-26.mdx renamed mistral-tiny to open-mistral-7b (aka mistral-tiny-2312); open-mistral-7b was retired on 2025-03-30 (model card mistral-7b-0-2). batchd points the bare name at the model the rest of the mistral-tiny family resolves to. Used by @mistralai/mistralai examples/src/async_chat_no_streaming.ts and async_chat_streaming.ts.',
  },
  {
    alias: 'pixtral-12b',
    target: 'pixtral-12b-2409',
    evidence:
      'Docs examples (public/llms-full.txt, vision) and changelog/en/2024-11-06.mdx call it pixtral-12b; @mistralai/mistralai examples/src/async_chat_with_image_no_streaming.ts too.',
  },
  { alias: 'pixtral-12b-latest', target: 'pixtral-12b-2409', evidence: 'Listed as "Pixtral 12B (pixtral-12b-latest)" in public/llms-full.txt (fine-tuning).' },
  {
    alias: 'mistral-moderation-latest',
    target: 'mistral-moderation-2603',
    evidence:
      'Used by the classifiers API reference (src/content/en/api/endpoint/classifiers/page.mdx). Per the model lifecycle page, -latest points to the latest GA version: mistral-moderation-2603 (2411 is deprecated with 2603 as replacement).',
  },
];

const LEFT_OUT = /^(ocr-|voxtral-)/;
/** Mistral's embedding sizes, from the embeddings guides (text_embeddings: 1024; code_embeddings: "defaults to 1536"). */
const EMBEDDING_DIMENSION: Record<string, number> = { 'mistral-embed-2312': 1024, 'codestral-embed-2505': 1536 };

function git(gitDir: string, args: string[]): string {
  return execFileSync('git', ['-C', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function contextTokens(s: string | null | undefined): number | null {
  const m = /^(\d+)\s*([kM])$/.exec(s ?? '');
  if (!m) return null;
  return Number(m[1]) * (m[2] === 'M' ? 1024 * 1024 : 1024);
}

function isoDate(s: string | undefined): string | null {
  if (!s) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
  const t = Date.parse(`${s} UTC`);
  if (Number.isNaN(t)) throw new Error(`unreadable date ${JSON.stringify(s)}`);
  return new Date(t).toISOString().slice(0, 10);
}

/** USD per million tokens; the first (uncached) input line, and 0 where Mistral bills nothing. */
function prices(p: DocsCard['pricing']): { input: number; output: number } {
  if (p.type === 'flat') return { input: p.price, output: 0 };
  if (p.type === 'range') return { input: p.input, output: p.output };
  const perToken = (lines: PriceLine[]) => lines.find((l) => l.denominator === '/M Tokens' && !/cached/i.test(l.label ?? ''))?.price ?? 0;
  return { input: perToken(p.input), output: perToken(p.output) };
}

async function main() {
  const gitDir = process.argv[2] ?? '/work/.mirror/mistralai+platform-docs-public/repo';
  const commit = git(gitDir, ['rev-parse', process.argv[3] ?? 'HEAD']).trim();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mistral-cards-'));
  try {
    fs.mkdirSync(path.join(tmp, 'models'));
    // The cards import only a type from '../schema'; a stub keeps them loadable on their own.
    fs.writeFileSync(path.join(tmp, 'schema.ts'), 'export type StaticModel = unknown;\n');
    fs.writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}\n');
    const files = git(gitDir, ['ls-tree', '--name-only', commit, `${CARDS_DIR}/`])
      .split('\n')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('/index.ts'));
    const cards: DocsCard[] = [];
    for (const f of files) {
      const local = path.join(tmp, 'models', path.basename(f));
      fs.writeFileSync(local, git(gitDir, ['show', `${commit}:${f}`]));
      cards.push(((await import(pathToFileURL(local).href)) as { default: DocsCard }).default);
    }
    const kept = cards.filter((c) => c.status !== 'Retired' && c.identifiers.apiNames.length > 0 && !LEFT_OUT.test(c.slug));
    const byName = new Map(cards.map((c) => [c.name, c]));
    const models = kept
      .sort((a, b) => (b.releaseDate ?? '').localeCompare(a.releaseDate ?? '') || a.slug.localeCompare(b.slug))
      .map((c) => {
        const [id, ...aliases] = [...new Set([...c.identifiers.apiNames, ...(c.identifiers.aliases ?? [])])] as [string, ...string[]];
        for (const extra of EXTRA_ALIASES) if (extra.target === id) aliases.push(extra.alias);
        const { features, input, output } = c.capabilities;
        const type = features.includes('embeddings') ? 'embedding' : features.includes('moderations') ? 'moderation' : 'chat';
        const price = prices(c.pricing);
        const meta = c.metadata ?? {};
        const replacement = meta.replacement ? byName.get(meta.replacement) : undefined;
        const retires = isoDate(meta.retirementDate);
        return {
          id,
          aliases,
          name: c.name,
          type,
          status: c.status,
          released: c.releaseDate ?? null,
          description: c.describe({ text: (s) => s }).shortDescription,
          capabilities: {
            completion_chat: features.includes('chat-completions'),
            completion_fim: features.includes('fim'),
            function_calling: features.includes('function-calling'),
            structured_outputs: features.includes('structured-outputs'),
            vision: input.includes('image'),
            reasoning: output.includes('reasoning'),
            classification: type === 'moderation',
            moderation: type === 'moderation',
          },
          max_context_length: contextTokens(c.contextLength),
          ...(type === 'embedding' ? { embedding_dimension: EMBEDDING_DIMENSION[id] ?? null } : {}),
          input_price_per_mtok: price.input,
          output_price_per_mtok: price.output,
          deprecation:
            retires || meta.deprecationDate
              ? {
                  deprecated_on: isoDate(meta.deprecationDate),
                  retires_on: retires,
                  replacement: replacement?.identifiers.apiNames[0] ?? null,
                  replacement_name: meta.replacement ?? null,
                }
              : null,
          docs_card: `${CARDS_DIR}/${c.slug}.ts`,
        };
      });
    const seen = new Map<string, string>();
    for (const m of models) {
      for (const n of [m.id, ...m.aliases]) {
        if (seen.has(n)) throw new Error(`${n} names both ${seen.get(n)} and ${m.id}`);
        seen.set(n, m.id);
      }
      if (m.max_context_length === null) throw new Error(`${m.id}: no context length`);
      if (m.type === 'embedding' && !('embedding_dimension' in m && m.embedding_dimension))
        throw new Error(`${m.id}: add its dimension to EMBEDDING_DIMENSION`);
    }
    for (const extra of EXTRA_ALIASES) if (seen.get(extra.alias) !== extra.target) throw new Error(`extra alias ${extra.alias}: no model ${extra.target}`);
    const doc = {
      source: {
        repository: `https://github.com/${DOCS_REPO}`,
        commit,
        committed: git(gitDir, ['log', '-1', '--format=%cI', commit]).trim(),
        paths: [`${CARDS_DIR}/*.ts`, 'src/content/en/docs/inference/model-lifecycle/page.mdx', 'src/content/en/docs/studio/knowledge-rag/embeddings/'],
        generated_by: 'scripts/refresh-mistral-models.ts',
        selection:
          'Cards with status GA, PublicPreview or Deprecated and at least one API name; OCR, Voxtral (audio, TTS) left out. Prices: USD per million tokens, first uncached input line. max_context_length: "128k" = 131072.',
      },
      extra_aliases: EXTRA_ALIASES,
      models,
    };
    fs.writeFileSync(OUT, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`wrote ${models.length} models, ${seen.size} names, to ${path.relative(process.cwd(), OUT)} (docs commit ${commit.slice(0, 12)})`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
