import { readGgufSummary } from './gguf-reader.js';
import type { MetaValue, TensorType } from './gguf-writer.js';
import { TOKEN_ID, type Vocabulary } from './vocabulary.js';

// What the generated models (chat and embedding) share: the random source, the tokenizer header, the regeneration rule.

/** mulberry32: uniform in [0, 1); the same seed gives the same sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values (Box-Muller over mulberry32): the same seed gives the same model, byte for byte. */
export function gaussian(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

/** Zero-mean, unit-variance uniform values: 5x cheaper than gaussian() for the millions of weights of a wide model. */
export function unitUniform(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => (uniform() * 2 - 1) * Math.sqrt(3);
}

export const u32 = (value: number): MetaValue => ({ type: 'u32', value });

export interface LlamaShape {
  /** general.name: carries the generator version (see ensureGenerated). */
  name: string;
  type: TensorType;
  contextLength: number;
  embedding: number;
  layers: number;
  feedForward: number;
  heads: number;
  kvHeads: number;
  /** Width of one attention head; llama.cpp assumes embedding / heads unless told. */
  headSize: number;
}

/** The llama-architecture hyperparameters (the keys whose absence llama.cpp cannot survive among them). */
export function llamaMetadata(s: LlamaShape): [string, MetaValue][] {
  const meta: [string, MetaValue][] = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: s.name }],
    ['general.file_type', u32(s.type === 'f16' ? 1 : 0)],
    ['general.alignment', u32(32)],
    ['llama.context_length', u32(s.contextLength)],
    ['llama.embedding_length', u32(s.embedding)],
    ['llama.block_count', u32(s.layers)],
    ['llama.feed_forward_length', u32(s.feedForward)],
    ['llama.attention.head_count', u32(s.heads)],
    ['llama.attention.head_count_kv', u32(s.kvHeads)],
  ];
  if (s.headSize * s.heads !== s.embedding) meta.push(['llama.attention.key_length', u32(s.headSize)], ['llama.attention.value_length', u32(s.headSize)]);
  meta.push(
    ['llama.rope.dimension_count', u32(s.headSize)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.rope.freq_base', { type: 'f32', value: 10000 }],
  );
  return meta;
}

/** The SentencePiece-style tokenizer keys: every generated model tokenizes alike, so token counts agree across them. */
export function tokenizerMetadata(vocab: Vocabulary, chatTemplate: string | null, opts: { addSpacePrefix?: boolean } = {}): [string, MetaValue][] {
  const meta: [string, MetaValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'strings', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32s', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32s', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(TOKEN_ID.unk)],
    ['tokenizer.ggml.bos_token_id', u32(vocab.bos)],
    ['tokenizer.ggml.eos_token_id', u32(vocab.eos)],
    ['tokenizer.ggml.fim_pre_token_id', u32(TOKEN_ID.prefix)],
    ['tokenizer.ggml.fim_suf_token_id', u32(TOKEN_ID.suffix)],
    ['tokenizer.ggml.fim_mid_token_id', u32(TOKEN_ID.middle)],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ];
  // Off for formats of byte-level BPE families (Llama 3, Qwen), which put no space before a word that follows a control token.
  if (opts.addSpacePrefix === false) meta.push(['tokenizer.ggml.add_space_prefix', { type: 'bool', value: false }]);
  if (chatTemplate !== null) meta.push(['tokenizer.chat_template', { type: 'string', value: chatTemplate }]);
  return meta;
}

/**
 * Runs `generate` unless `file` already holds a model whose `general.name` is `name`
 * (the name carries the generator version, so a newer generator replaces an older
 * file). Missing, unreadable or corrupt files are written afresh; writes are atomic.
 */
export function ensureGenerated(file: string, name: string, generate: () => void): string {
  let current = false;
  try {
    current = readGgufSummary(file).metadata.get('general.name') === name;
  } catch {
    // Written afresh below.
  }
  if (!current) generate();
  return file;
}
