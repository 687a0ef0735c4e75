import fs from 'node:fs';
import path from 'node:path';
import { writeGguf, type MetaValue, type Tensor } from './gguf-writer.js';

/**
 * A tiny llama-architecture model with a real SentencePiece-style vocabulary and random
 * but fixed weights: it tokenizes, runs and samples like any GGUF, and prints
 * meaningless but readable words. The weights are shaped (see `outputWeights`) so that
 * byte and control tokens are pushed down and whole words up.
 */
export interface TinyModelShape {
  embedding: number;
  layers: number;
  heads: number;
  feedForward: number;
  contextLength: number;
  seed: number;
}

const DEFAULT_SHAPE: TinyModelShape = { embedding: 64, layers: 2, heads: 4, feedForward: 128, contextLength: 4096, seed: 42 };

const WORDS = (
  'the of and to in is it you that he was for on are with as his they be at one have this from or had by hot word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find any new work part take get place made live where after back little only round man year came show every good me give our under name very through just form sentence great think say help low line differ turn cause much mean before move right boy old too same tell does set three want air well also play small end put home read hand port large spell add even land here must big high such follow act why ask men change went light kind off need house picture try us again animal point mother world near build self earth father head stand own page should country found answer school grow study still learn plant cover food sun four between state keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late run while press close night real life few north open seem together next white children begin got walk example ease paper group always music those both mark often letter until mile river car feet care second book carry took science eat room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song measure door product black short numeral class wind question happen complete ship area half rock order fire south problem piece told knew pass since top whole king space heard best hour better true during hundred five remember step early hold west ground interest reach fast verb sing listen six table travel less morning ten simple several vowel toward war lay against pattern slow center love person money serve appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct able pound done beauty drive stood contain front teach week final gave green oh quick develop ocean warm free minute strong special mind behind clear tail produce fact street inch multiply nothing course stay wheel full force blue object decide surface deep moon island foot system busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes distant fill east paint language among batch request model token cheese french'
).split(/\s+/);

const SPECIAL = ['<unk>', '<s>', '</s>', '[INST]', '[/INST]', '[PREFIX]', '[SUFFIX]', '[MIDDLE]'];
const TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const SPACE = '\u2581';

export interface Vocabulary {
  tokens: string[];
  scores: number[];
  types: number[];
}

/** Control tokens, the 256 byte-fallback tokens, then characters, words and every prefix of every word. */
export function buildVocabulary(): Vocabulary {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const seen = new Set<string>();
  const add = (t: string, type: number, score: number) => {
    if (seen.has(t)) return;
    seen.add(t);
    tokens.push(t);
    types.push(type);
    scores.push(score);
  };
  SPECIAL.forEach((t, i) => add(t, i === 0 ? TYPE.unknown : TYPE.control, 0));
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TYPE.byte, 0);
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?;:\'"()-_/\\[]{}<>=+*&%$#@`~|^';
  add(SPACE, TYPE.normal, -1);
  for (const c of chars) {
    add(c, TYPE.normal, -1);
    add(SPACE + c, TYPE.normal, -1);
  }
  // Every prefix of a word is a piece too, so SentencePiece merges can build whole words.
  for (const w of WORDS) {
    for (let i = 2; i <= w.length; i++) {
      add(w.slice(0, i), TYPE.normal, i - 1);
      add(SPACE + w.slice(0, i), TYPE.normal, i);
    }
  }
  return { tokens, scores, types };
}

/** mulberry32 + Box-Muller: the same seed gives the same model, byte for byte. */
function gaussian(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

function validate(s: TinyModelShape) {
  // llama.cpp aborts the whole process (uncatchable) on some inconsistent hyperparameters.
  if (s.embedding % s.heads !== 0) throw new Error('embedding must be divisible by heads');
  if (s.layers < 1 || s.feedForward < 1 || s.contextLength < 16) throw new Error('invalid model shape');
}

/** Writes the model to `file` (atomically) and returns its vocabulary size. */
export function generateTinyModel(file: string, shape: TinyModelShape = DEFAULT_SHAPE): number {
  validate(shape);
  const vocab = buildVocabulary();
  const V = vocab.tokens.length;
  const E = shape.embedding;
  const F = shape.feedForward;
  const normal = gaussian(shape.seed);
  const matrix = (rows: number, cols: number, scale: number) => Float32Array.from({ length: rows * cols }, () => normal() * scale);
  const ones = (n: number) => new Float32Array(n).fill(1);

  // Dimension 0 of every embedding is a constant channel the output layer reads as a bias.
  const embd = matrix(V, E, 0.5);
  for (let v = 0; v < V; v++) embd[v * E] = 1;
  const tensors: Tensor[] = [{ name: 'token_embd.weight', dims: [E, V], data: embd }];
  for (let l = 0; l < shape.layers; l++) {
    const p = `blk.${l}`;
    tensors.push(
      { name: `${p}.attn_norm.weight`, dims: [E], data: ones(E) },
      { name: `${p}.attn_q.weight`, dims: [E, E], data: matrix(E, E, 0.15) },
      { name: `${p}.attn_k.weight`, dims: [E, E], data: matrix(E, E, 0.15) },
      { name: `${p}.attn_v.weight`, dims: [E, E], data: matrix(E, E, 0.15) },
      { name: `${p}.attn_output.weight`, dims: [E, E], data: zeroChannel(matrix(E, E, 0.05), E, E) },
      { name: `${p}.ffn_norm.weight`, dims: [E], data: ones(E) },
      { name: `${p}.ffn_gate.weight`, dims: [E, F], data: matrix(F, E, 0.15) },
      { name: `${p}.ffn_up.weight`, dims: [E, F], data: matrix(F, E, 0.15) },
      { name: `${p}.ffn_down.weight`, dims: [F, E], data: zeroChannel(matrix(E, F, 0.05), E, F) },
    );
  }
  tensors.push({ name: 'output_norm.weight', dims: [E], data: ones(E) }, { name: 'output.weight', dims: [E, V], data: outputWeights(vocab, E, normal) });

  const meta: [string, MetaValue][] = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'batchd-tiny (random weights)' }],
    ['general.file_type', { type: 'u32', value: 0 }],
    ['general.alignment', { type: 'u32', value: 32 }],
    ['llama.context_length', { type: 'u32', value: shape.contextLength }],
    ['llama.embedding_length', { type: 'u32', value: E }],
    ['llama.block_count', { type: 'u32', value: shape.layers }],
    ['llama.feed_forward_length', { type: 'u32', value: F }],
    ['llama.attention.head_count', { type: 'u32', value: shape.heads }],
    ['llama.attention.head_count_kv', { type: 'u32', value: shape.heads }],
    ['llama.rope.dimension_count', { type: 'u32', value: E / shape.heads }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.rope.freq_base', { type: 'f32', value: 10000 }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'strings', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32s', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32s', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: 2 }],
    ['tokenizer.ggml.fim_pre_token_id', { type: 'u32', value: 5 }],
    ['tokenizer.ggml.fim_suf_token_id', { type: 'u32', value: 6 }],
    ['tokenizer.ggml.fim_mid_token_id', { type: 'u32', value: 7 }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
    ['tokenizer.chat_template', { type: 'string', value: CHAT_TEMPLATE }],
  ];
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeGguf(file, meta, tensors);
  return V;
}

/** Mistral's instruct format, the same one LlamaEngine renders. */
const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

/** Layers must not write into the constant channel, or it would stop being a bias. */
function zeroChannel(m: Float32Array, rows: number, cols: number): Float32Array {
  // GGUF [ne0=cols_in, ne1=rows_out]: row r (output dim r) is m[r*cols .. r*cols+cols).
  void rows;
  m.fill(0, 0, cols);
  return m;
}

/**
 * The output layer: random in every dimension but the constant channel, whose weight
 * is a per-token bias: strongly negative for byte, control and unknown tokens, mildly
 * negative for end-of-sequence (reachable, not immediate), positive for whole words.
 */
function outputWeights(vocab: Vocabulary, E: number, normal: () => number): Float32Array {
  const w = new Float32Array(E * vocab.tokens.length);
  const words = new Set(WORDS.map((x) => SPACE + x));
  for (let v = 0; v < vocab.tokens.length; v++) {
    for (let e = 1; e < E; e++) w[v * E + e] = normal() * 0.35;
    const t = vocab.tokens[v]!;
    const type = vocab.types[v]!;
    w[v * E] = t === '</s>' ? -2.5 : type !== TYPE.normal ? -12 : words.has(t) ? 2 : -4;
  }
  return w;
}

/** Creates `<dir>/batchd-tiny.gguf` once (atomically) and returns its path. */
export async function ensureDefaultModel(dir: string): Promise<string> {
  const file = path.join(dir, 'batchd-tiny.gguf');
  if (!fs.existsSync(file)) generateTinyModel(file);
  return file;
}
