/**
 * Chat formats other than Mistral's, for generated models that stand in for real ones in
 * tests: each the template a real model family ships in its GGUF (`tokenizer.chat_template`)
 * and the control tokens that template writes, which must be single tokens of the vocabulary
 * as they are in the real tokenizers.
 */
export interface ChatFormat {
  /** Jinja template, as the family's GGUFs carry it. */
  template: string;
  /** Control tokens the template needs beyond Mistral's. */
  controlTokens: readonly string[];
  /** Begin- and end-of-sequence tokens (the end of an assistant turn ends generation). */
  bos?: string;
  eos?: string;
  /** SentencePiece's leading space before the first word; off for formats of BPE families. Default true. */
  addSpacePrefix?: boolean;
}

/** Meta's Llama 3 instruct template (Llama-3-8B-Instruct's GGUF, without its tool-calling branch). */
export const LLAMA3_FORMAT: ChatFormat = {
  template: [
    '{% set loop_messages = messages %}',
    '{% for message in loop_messages %}',
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}",
    '{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}',
    '{{ content }}',
    '{% endfor %}',
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  ].join(''),
  controlTokens: ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  bos: '<|begin_of_text|>',
  eos: '<|eot_id|>',
  addSpacePrefix: false,
};

/** ChatML, as Qwen 2 / 2.5 and many fine-tunes write it (with Qwen's default system message). */
export const CHATML_FORMAT: ChatFormat = {
  template: [
    '{% for message in messages %}',
    "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}",
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}",
    '{% endfor %}',
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  ].join(''),
  controlTokens: ['<|im_start|>', '<|im_end|>', '<|endoftext|>'],
  eos: '<|im_end|>',
  addSpacePrefix: false,
};
