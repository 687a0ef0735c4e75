import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import type { LlamaModel } from 'node-llama-cpp';
import { CHATML_FORMAT, LLAMA3_FORMAT, type ChatFormat } from '../../src/engines/llama/gguf/chat-formats.js';
import { LLAMA31_FORMAT, QWEN25_FORMAT } from '../../src/engines/llama/gguf/tool-chat-formats.js';
import { createFormatter } from '../../src/engines/llama/prompts.js';
import { loadModelFile } from '../../src/engines/llama/runtime.js';
import { generatedModels } from '../helpers/generated-models.js';
import { startTestServer, waitForJob, type TestServer } from '../helpers/server.js';

const ajv = new Ajv({ strict: false });
const models = generatedModels('batchd-llama-tools-');

const weather = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city'] };
const payment = {
  type: 'object',
  properties: { transactionId: { type: 'string' }, currency: { enum: ['EUR', 'USD'] }, tags: { type: 'array', items: { type: 'string' }, maxItems: 3 } },
  required: ['transactionId', 'currency'],
  additionalProperties: false,
};
const getWeather = { type: 'function', function: { name: 'get_weather', description: 'Forecast for a city', parameters: weather } };
const tools = [getWeather, { type: 'function', function: { name: 'get_payment', description: 'Status of a payment', parameters: payment } }];
const schemaOf: Record<string, object> = { get_weather: weather, get_payment: payment };

const ask = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'weather in Paris?' },
];
/** The call answered, then the answer after it and another user turn. */
const followUp = [
  ...ask,
  { role: 'assistant', content: '', tool_calls: [{ id: 'abc123XYZ', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
  { role: 'tool', tool_call_id: 'abc123XYZ', content: '{"temp": 21}' },
];
const laterTurn = [...followUp, { role: 'assistant', content: 'it is warm' }, { role: 'user', content: 'and the river' }];

async function withModel<T>(file: string, fn: (model: LlamaModel) => T): Promise<T> {
  const model = await loadModelFile(file);
  try {
    return fn(model);
  } finally {
    await model.dispose();
  }
}

/** The prompt's tokens are exactly the tokens of `expected` (control tokens included), with a readable diff on failure. */
function assertPrompt(model: LlamaModel, messages: unknown[], expected: string) {
  const prompt = createFormatter(model).chat(messages, { tools: [getWeather] });
  assert.equal(model.detokenize(prompt.tokens, true), expected);
  assert.deepEqual(prompt.tokens, model.tokenize(expected, true));
}

const qwen = models.file('qwen25', { chatFormat: QWEN25_FORMAT });
const llama31 = models.file('llama31', { chatFormat: LLAMA31_FORMAT });

describe("tools in the model's own chat template", () => {
  test('Qwen 2.5 (ChatML): tools in <tools> of the system turn, calls in <tool_call>, results in <tool_response> of a user turn', async () => {
    await withModel(qwen, (model) => {
      const system =
        '<|im_start|>system\nbe brief\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
        'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "get_weather", "description": "Forecast for a city", "parameters": ' +
        '{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city"]}}}\n' +
        '</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n';
      const user = '<|im_start|>user\nweather in Paris?<|im_end|>\n';
      const call = '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n';
      const result = '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>\n';
      assertPrompt(model, ask, `${system}${user}<|im_start|>assistant\n`);
      assertPrompt(model, followUp, `${system}${user}${call}${result}<|im_start|>assistant\n`);
      assertPrompt(
        model,
        laterTurn,
        `${system}${user}${call}${result}<|im_start|>assistant\nit is warm<|im_end|>\n<|im_start|>user\nand the river<|im_end|>\n<|im_start|>assistant\n`,
      );
      // Two calls in one turn, and their results in one user turn, as the template writes parallel calls.
      const rome = { id: 'def456UVW', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome","days":2}' } };
      const parallel = [
        ...ask,
        { role: 'assistant', content: '', tool_calls: [(followUp[2] as { tool_calls: object[] }).tool_calls[0], rome] },
        { role: 'tool', tool_call_id: 'abc123XYZ', content: '{"temp": 21}' },
        { role: 'tool', tool_call_id: 'def456UVW', content: 'sunny' },
      ];
      assertPrompt(
        model,
        parallel,
        `${system}${user}<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n` +
          '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}\n</tool_call><|im_end|>\n' +
          '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>\n<tool_response>\n"sunny"\n</tool_response><|im_end|>\n<|im_start|>assistant\n',
      );
      // Qwen's <tool_call> is one token of its vocabulary, with which the model opens a call by itself.
      const tools = createFormatter(model).tools;
      assert.equal(tools.token, model.tokenize('<tool_call>', true)[0]);
      assert.equal(model.detokenize(tools.marker, true), '<tool_call>\n{"name": "');
    });
  });

  test('Llama 3.1: Environment ipython, tools in the first user turn, calls as {"name", "parameters"}, results in an ipython turn', async () => {
    await withModel(llama31, (model) => {
      const system =
        '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\n' +
        'Today Date: 26 Jul 2024\n\nbe brief<|eot_id|>';
      // Python's json.dumps(indent=4) writes what JSON.stringify does with 4 spaces.
      const user =
        '<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call ' +
        'with its proper arguments that best answers the given prompt.\n\n' +
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n' +
        `${JSON.stringify(getWeather, null, 4)}\n\nweather in Paris?<|eot_id|>`;
      const header = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
      const call = `${header('assistant')}{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>`;
      const result = `${header('ipython')}{"temp": 21}<|eot_id|>`;
      assertPrompt(model, ask, `${system}${user}${header('assistant')}`);
      assertPrompt(model, followUp, `${system}${user}${call}${result}${header('assistant')}`);
      assertPrompt(
        model,
        laterTurn,
        `${system}${user}${call}${result}${header('assistant')}it is warm<|eot_id|>${header('user')}and the river<|eot_id|>${header('assistant')}`,
      );
      assert.equal(model.detokenize(createFormatter(model).tools.marker, true), '{"name": "');
    });
  });

  test("a template without a tool branch gets node-llama-cpp's function syntax for its family", async () => {
    await withModel(models.file('llama3', { chatFormat: LLAMA3_FORMAT }), (model) => {
      const text = model.detokenize(createFormatter(model).chat(followUp, { tools: [getWeather] }).tokens, true);
      // node-llama-cpp's TypeScript-style documentation of the parameters.
      assert.match(text, /\/\/ Forecast for a city\nfunction get_weather\(params: \{city: string, days: bigint\}\);/);
      assert.match(text, /<\|start_header_id\|>assistant<\|end_header_id\|>\n\n\|\|call: get_weather\(\{"city": "Paris"\}\)<\|eot_id\|>/);
      assert.match(
        text,
        /<\|start_header_id\|>function_call_result<\|end_header_id\|>\n\n\{"temp": 21\}<\|eot_id\|><\|start_header_id\|>assistant<\|end_header_id\|>\n\n$/,
      );
    });
  });
});

/** A forced call's `tool_calls`: Mistral's shape, one of the allowed functions, arguments valid for its schema. */
function assertCalls(choice: { message: { tool_calls: unknown }; finish_reason: string }, allowed: string[], where: string) {
  assert.equal(choice.finish_reason, 'tool_calls', where);
  const calls = choice.message.tool_calls as { id: string; type: string; function: { name: string; arguments: string }; index: number }[];
  assert.ok(Array.isArray(calls) && calls.length >= 1, `${where}: no tool call`);
  for (const c of calls) {
    assert.match(c.id, /^[a-zA-Z0-9]{9}$/, where);
    assert.equal(c.type, 'function', where);
    assert.ok(allowed.includes(c.function.name), `${where}: ${c.function.name} not in ${allowed.join(', ')}`);
    assert.equal(typeof c.function.arguments, 'string', where);
    assert.ok(ajv.validate(schemaOf[c.function.name]!, JSON.parse(c.function.arguments)), `${where}: ${c.function.arguments}: ${ajv.errorsText()}`);
  }
  return calls;
}

const served: [string, string, ChatFormat][] = [
  ['qwen-tools', qwen, QWEN25_FORMAT],
  ['llama31-tools', llama31, LLAMA31_FORMAT],
  ['chatml-plain', models.file('chatml', { chatFormat: CHATML_FORMAT }), CHATML_FORMAT],
];

describe('tool calls through the HTTP API on templated models', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: { models: served.map(([id, path]) => ({ id, engine: 'llama', path })) }, env: { BATCHD_LLAMA_SEQUENCES: '2' } });
  });
  after(() => server.stop());

  for (const [id] of served) {
    test(`${id}: forced calls online and in a batch are valid tool_calls; the result is answered in the template's form`, async () => {
      for (const [seed, toolChoice] of [
        [1, 'any'],
        [2, 'required'],
      ] as const) {
        const res = await server.request('POST', '/v1/chat/completions', {
          model: id,
          messages: ask,
          tools,
          tool_choice: toolChoice,
          random_seed: seed,
          temperature: 1,
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assertCalls(res.body.choices[0], ['get_weather', 'get_payment'], `${id} ${toolChoice}`);
      }
      const named = await server.request('POST', '/v1/chat/completions', {
        model: id,
        messages: ask,
        tools,
        tool_choice: { type: 'function', function: { name: 'get_payment' } },
        max_tokens: 200,
      });
      assert.equal(named.status, 200, JSON.stringify(named.body));
      const [call] = assertCalls(named.body.choices[0], ['get_payment'], `${id} named`);

      // The call and its result, fed back: the prompt is the template's form of that conversation, and the answer is text.
      const messages = [
        ...ask,
        { role: 'assistant', content: '', tool_calls: [call] },
        { role: 'tool', tool_call_id: call!.id, content: '{"status": "paid"}' },
      ];
      const next = await server.request('POST', '/v1/chat/completions', { model: id, messages, tools, max_tokens: 8 });
      assert.equal(next.status, 200, JSON.stringify(next.body));
      assert.equal(next.body.choices[0].message.tool_calls, null);
      const file = served.find(([m]) => m === id)![1];
      const expected = await withModel(file, (model) => {
        const prompt = createFormatter(model).chat(messages, { tools });
        const text = model.detokenize(prompt.tokens, true);
        assert.ok(text.includes(JSON.parse(call!.function.arguments).transactionId), 'the call is in the prompt');
        assert.ok(text.includes('{"status": "paid"}'), 'the result is in the prompt');
        return prompt.tokens.length;
      });
      assert.equal(next.body.usage.prompt_tokens, expected);

      const body = { messages: ask, tools, tool_choice: 'any', max_tokens: 200 };
      const job = await server.request('POST', '/v1/batch/jobs', {
        endpoint: '/v1/chat/completions',
        model: id,
        requests: [0, 1].map((i) => ({ custom_id: String(i), body: { ...body, random_seed: i } })),
      });
      assert.equal(job.status, 200, JSON.stringify(job.body));
      const done = await waitForJob(server, job.body.id);
      assert.equal(done.succeeded_requests, 2, JSON.stringify(done));
      for (const out of done.outputs) assertCalls(out.response.body.choices[0], ['get_weather', 'get_payment'], `${id} batch line ${out.custom_id}`);
    });
  }

  test("tool_choice none answers with text, auto as the template allows; a call's clear errors hold on templated models", async () => {
    const none = await server.request('POST', '/v1/chat/completions', { model: 'qwen-tools', messages: ask, tools, tool_choice: 'none', max_tokens: 8 });
    assert.equal(none.status, 200);
    assert.equal(none.body.choices[0].message.tool_calls, null);
    // auto on a template whose call opens with a control token: the model decides (text here, or a valid call).
    const auto = await server.request('POST', '/v1/chat/completions', { model: 'qwen-tools', messages: ask, tools, max_tokens: 40 });
    assert.equal(auto.status, 200, JSON.stringify(auto.body));
    if (auto.body.choices[0].message.tool_calls !== null) assertCalls(auto.body.choices[0], ['get_weather', 'get_payment'], 'qwen auto');
    else assert.equal(typeof auto.body.choices[0].message.content, 'string');
    // auto on one without such a token: a user turn is answered with a call.
    const autoLlama = await server.request('POST', '/v1/chat/completions', { model: 'llama31-tools', messages: ask, tools, max_tokens: 200 });
    assertCalls(autoLlama.body.choices[0], ['get_weather', 'get_payment'], 'llama31 auto');
    const unknown = await server.request('POST', '/v1/chat/completions', {
      model: 'llama31-tools',
      messages: ask,
      tools,
      tool_choice: { type: 'function', function: { name: 'nope' } },
    });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.message, /'nope', which is not in tools/);
    const tiny = await server.request('POST', '/v1/chat/completions', { model: 'qwen-tools', messages: ask, tools, tool_choice: 'any', max_tokens: 5 });
    assert.equal(tiny.status, 400);
    assert.match(tiny.body.message, /smallest tool call/);
  });
});
