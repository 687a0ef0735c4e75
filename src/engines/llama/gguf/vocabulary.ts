/**
 * The generated model's tokenizer: a SentencePiece-style (`llama`) vocabulary of control
 * tokens, the 256 byte-fallback tokens, single characters, and a few hundred English
 * words with every prefix of each (SentencePiece builds a word by merging pieces, so
 * without the prefixes "hello world" would be a dozen tokens instead of two).
 */

/** Control tokens first, at fixed ids: Mistral's order for the first five, then Codestral's FIM markers. */
export const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '[INST]', '[/INST]', '[PREFIX]', '[SUFFIX]', '[MIDDLE]'] as const;
export const TOKEN_ID = { unk: 0, bos: 1, eos: 2, prefix: 5, suffix: 6, middle: 7 } as const;
/** tokenizer.ggml.token_type values. */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
/** SentencePiece's visible space (U+2581). */
export const SPACE = '\u2581';

export const WORDS = (
  'the of and to in is it you that he was for on are with as his they be at one have this from or had by hot word ' +
  'but what some we can out other were all there when up use your how said an each she which do their time if ' +
  'will way about many then them write would like so these her long make thing see him two has look more day ' +
  'could go come did number sound no most people my over know water than call first who may down side been now ' +
  'find any new work part take get place made live where after back little only round man year came show every ' +
  'good me give our under name very through just form sentence great think say help low line differ turn cause ' +
  'much mean before move right boy old too same tell does set three want air well also play small end put home ' +
  'read hand port large spell add even land here must big high such follow act why ask men change went light kind ' +
  'off need house picture try us again animal point mother world near build self earth father head stand own page ' +
  'should country found answer school grow study still learn plant cover food sun four between state keep eye ' +
  'never last let thought city tree cross farm hard start might story saw far sea draw left late run while press ' +
  'close night real life few north open seem together next white children begin got walk example ease paper group ' +
  'always music those both mark often letter until mile river car feet care second book carry took science eat ' +
  'room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main enough ' +
  'plain girl usual young ready above ever red list though feel talk bird soon body dog family direct pose leave ' +
  'song measure door product black short numeral class wind question happen complete ship area half rock order ' +
  'fire south problem piece told knew pass since top whole king space heard best hour better true during hundred ' +
  'five remember step early hold west ground interest reach fast verb sing listen six table travel less morning ' +
  'ten simple several vowel toward war lay against pattern slow center love person money serve appear road map ' +
  'rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine note wait ' +
  'plan figure star box noun field rest correct able pound done beauty drive stood contain front teach week final ' +
  'gave green oh quick develop ocean warm free minute strong special mind behind clear tail produce fact street ' +
  'inch multiply nothing course stay wheel full force blue object decide surface deep moon island foot system ' +
  'busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape ' +
  'equate miss brought heat snow tire bring yes distant fill east paint language among batch request model token ' +
  'cheese french'
).split(' ');

export interface Vocabulary {
  tokens: string[];
  scores: number[];
  types: number[];
  /** Ids of the begin- and end-of-sequence tokens (Mistral's `<s>` and `</s>` unless a chat format names others). */
  bos: number;
  eos: number;
}

/**
 * `extraControl`: control tokens a chat format needs beyond Mistral's (`<|im_start|>`,
 * `<|eot_id|>`…), appended after every other token so the ids of the rest never change.
 * `bos`/`eos` name the begin/end tokens by text; they must be control tokens of the vocabulary.
 */
export function buildVocabulary(extraControl: readonly string[] = [], ends: { bos?: string; eos?: string } = {}): Vocabulary {
  const vocab: Vocabulary = { tokens: [], scores: [], types: [], bos: TOKEN_ID.bos, eos: TOKEN_ID.eos };
  const seen = new Set<string>();
  const add = (t: string, type: number, score: number) => {
    if (seen.has(t)) return;
    seen.add(t);
    vocab.tokens.push(t);
    vocab.types.push(type);
    vocab.scores.push(score);
  };
  SPECIAL_TOKENS.forEach((t, i) => add(t, i === TOKEN_ID.unk ? TOKEN_TYPE.unknown : TOKEN_TYPE.control, 0));
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TOKEN_TYPE.byte, 0);
  add(SPACE, TOKEN_TYPE.normal, -1);
  for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?;:\'"()-_/\\[]{}<>=+*&%$#@`~|^') {
    add(c, TOKEN_TYPE.normal, -1);
    add(SPACE + c, TOKEN_TYPE.normal, -1);
  }
  // Longer pieces score higher, so the tokenizer's merges prefer whole words.
  for (const w of WORDS) {
    for (let i = 2; i <= w.length; i++) {
      add(w.slice(0, i), TOKEN_TYPE.normal, i - 1);
      add(SPACE + w.slice(0, i), TOKEN_TYPE.normal, i);
    }
  }
  for (const t of extraControl) {
    if (seen.has(t)) throw new Error(`vocabulary: control token ${t} is already a token`);
    add(t, TOKEN_TYPE.control, 0);
  }
  const controlId = (t: string) => {
    const id = vocab.tokens.indexOf(t);
    if (id < 0 || vocab.types[id] !== TOKEN_TYPE.control) throw new Error(`vocabulary: ${t} is not a control token of this vocabulary`);
    return id;
  };
  if (ends.bos !== undefined) vocab.bos = controlId(ends.bos);
  if (ends.eos !== undefined) vocab.eos = controlId(ends.eos);
  return vocab;
}

/**
 * Mistral's instruct template (v3 style, without tools): system text goes in front of
 * the last user message, assistant turns end with `</s>`. The engine's own formatter
 * (prompts.ts) produces the same tokens; a test renders this template to check that.
 */
export const MISTRAL_CHAT_TEMPLATE = [
  "{%- set ns = namespace(system='', last_user=-1) %}",
  "{%- for m in messages %}{%- if m['role'] == 'system' %}{%- set ns.system = ns.system + m['content'] + '\\n\\n' %}",
  "{%- elif m['role'] == 'user' %}{%- set ns.last_user = loop.index0 %}{%- endif %}{%- endfor %}",
  '{{- bos_token }}',
  '{%- for m in messages %}',
  "{%- if m['role'] == 'user' and loop.index0 == ns.last_user %}{{- '[INST] ' + ns.system + m['content'] + '[/INST]' }}",
  "{%- elif m['role'] == 'user' or m['role'] == 'tool' %}{{- '[INST] ' + m['content'] + '[/INST]' }}",
  "{%- elif m['role'] == 'assistant' %}{{- ' ' + m['content'] + eos_token }}",
  '{%- endif %}',
  '{%- endfor %}',
].join('');
