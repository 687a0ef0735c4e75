import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.js';

/*
 * Mistral's own TypeScript SDK example programs and documented snippets, vendored unmodified
 * (test/fixtures/mistral-client-ts/README.md), each run as its own `node --import tsx` process
 * against one real batchd. The only change made is the one a user makes: the server URL.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENDORED = path.join(ROOT, 'test', 'fixtures', 'mistral-client-ts', '.vendored');
const EXAMPLES = path.join(VENDORED, 'examples', 'src');
const SNIPPETS = path.join(VENDORED, 'docs-snippets');
// Under the project so that the examples' `@mistralai/mistralai`, `zod` and `tsx` resolve to its
// node_modules; a dot-directory, so the project's tsc skips it (and .gitignore'd).
const TMP_ROOT = path.join(ROOT, 'test', '.tmp-examples');

const CONSTRUCTOR = 'new Mistral({';
const WITH_SERVER_URL = 'new Mistral({ serverURL: process.env["MISTRAL_SERVER_URL"], ';
const RUN_TIMEOUT_MS = 120_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
let server: TestServer;
let workDir: string;

/** Copies a vendored program (and the files it reads beside itself) and points its client at batchd. */
function prepare(source: string, companions: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(workDir, `${path.basename(source, '.ts')}-`));
  const text = fs.readFileSync(source, 'utf8');
  assert.equal(text.split(CONSTRUCTOR).length - 1, 1, `${path.basename(source)} should construct the client exactly once with \`${CONSTRUCTOR}\``);
  const target = path.join(dir, path.basename(source));
  fs.writeFileSync(target, text.replace(CONSTRUCTOR, WITH_SERVER_URL));
  for (const c of companions) fs.copyFileSync(path.join(path.dirname(source), c), path.join(dir, c));
  return target;
}

function runProgram(file: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MISTRAL_API_KEY: server.keys.a,
    MISTRAL_SERVER_URL: server.url,
    NODE_NO_WARNINGS: '1',
  };
  // Not a test-runner child; and model_management's optional write flow stays off.
  delete env.NODE_TEST_CONTEXT;
  delete env.MISTRAL_FINE_TUNED_MODEL_ID;
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: path.dirname(file), env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, RUN_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, timedOut, stdout, stderr });
    });
  });
}

const tail = (text: string, lines = 20) => text.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * The thrown error as Node printed it, without the stack frames and the properties dump that follow
 * (an SDKError's dump, with its raw Response, runs to hundreds of lines).
 */
function thrownError(stderr: string): string {
  const frame = stderr.search(/\n\s+at /);
  return frame < 0 ? tail(stderr) : tail(stderr.slice(0, frame), 12);
}

/** What went wrong, for the assertion message: how it ended, the error it printed, the end of its output. */
function report(name: string, r: Run): string {
  const ending = r.timedOut ? `was killed after ${RUN_TIMEOUT_MS / 1000} s` : r.signal ? `died of ${r.signal}` : `exited with ${r.code}`;
  return `${name} ${ending}\n--- error (stderr up to the stack) ---\n${thrownError(r.stderr) || '(empty)'}\n--- stdout (last lines) ---\n${tail(r.stdout) || '(empty)'}`;
}

/** Runs a vendored program, requires exit code 0, then hands its stdout to `check`. */
async function runOk(source: string, check: (stdout: string) => void, companions?: string[]) {
  const name = path.basename(source);
  const r = await runProgram(prepare(source, companions));
  assert.ok(r.code === 0 && !r.timedOut, report(name, r));
  try {
    check(r.stdout);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- stdout of ${name} (last lines) ---\n${tail(r.stdout, 40)}`, { cause: err });
  }
}

const example = (name: string) => path.join(EXAMPLES, name);
const snippet = (name: string) => path.join(SNIPPETS, name);
const count = (text: string, re: RegExp) => (text.match(new RegExp(re.source, `${re.flags}g`)) ?? []).length;
const T = { timeout: RUN_TIMEOUT_MS + 30_000 };

describe("Mistral's TypeScript SDK examples, unchanged but for the server URL", () => {
  before(async () => {
    fs.mkdirSync(TMP_ROOT, { recursive: true });
    workDir = fs.mkdtempSync(path.join(TMP_ROOT, 'run-'));
    // The docs' chat-classifier snippets name fine-tuned classifiers of their own ("LeBaron",
    // "Camry"): served here as a user would serve theirs, from a registry file, on the
    // generated default model with the classifier endpoints.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-examples-'));
    const gguf = path.join(dataDir, 'models', 'batchd-tiny.gguf');
    const classifier = (id: string) => ({
      id,
      engine: 'llama',
      path: gguf,
      endpoints: ['/v1/moderations', '/v1/chat/moderations', '/v1/classifications', '/v1/chat/classifications'],
    });
    server = await startTestServer({ dataDir, models: { models: [classifier('LeBaron'), classifier('Camry')] } });
  });

  after(async () => {
    await Promise.all(
      [...running].map(
        (child) =>
          new Promise<void>((done) => {
            child.once('close', () => done());
            child.kill('SIGKILL');
          }),
      ),
    );
    await server?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    try {
      fs.rmdirSync(TMP_ROOT); // only when no other run is using it
    } catch {
      /* not empty or already gone */
    }
  });

  describe('files and batch', () => {
    test('async_files.ts uploads file.jsonl without a purpose (fine-tune), lists, retrieves and deletes it', T, () =>
      runOk(
        example('async_files.ts'),
        (out) => {
          assert.ok(count(out, /purpose: 'fine-tune'/) >= 2, 'the uploaded and the retrieved file objects show purpose fine-tune');
          assert.match(out, /deleted: true/);
        },
        ['file.jsonl'],
      ),
    );

    test('async_batch_jobs.ts runs an inline-requests job to SUCCESS and prints its five outputs', T, () =>
      runOk(example('async_batch_jobs.ts'), (out) => {
        assert.match(out, /Created job with ID: \S+/);
        assert.match(out, /Job is done, status SUCCESS/);
        assert.equal(count(out, /choices: \[/), 5, 'each of the five inline outputs prints its response body');
      }),
    );
  });

  describe('chat', () => {
    test('async_chat_no_streaming.ts prints a chat completion for mistral-tiny', T, () =>
      runOk(example('async_chat_no_streaming.ts'), (out) => {
        assert.match(out, /^Chat: \{/);
        assert.match(out, /object: 'chat\.completion'/);
        assert.match(out, /finishReason: '(stop|length)'/);
      }),
    );

    test('async_chat_streaming.ts streams text for mistral-tiny', T, () =>
      runOk(example('async_chat_streaming.ts'), (out) => assert.ok(out.length > 0, 'no content was streamed')),
    );

    test('async_chat_prediction.ts prints the content of a completion with a predicted output', T, () =>
      runOk(example('async_chat_prediction.ts'), (out) => {
        assert.ok(out.trim().length > 0, 'nothing printed');
        assert.notEqual(out.trim(), 'undefined', 'the completion has no message content');
      }),
    );

    test('async_json_format.ts gets a JSON object in JSON mode', T, () =>
      runOk(example('async_json_format.ts'), (out) => {
        assert.match(out, /^Chat: /);
        const content = out.slice('Chat: '.length).trim();
        let parsed: unknown;
        assert.doesNotThrow(() => (parsed = JSON.parse(content)), `content is not JSON: ${content.slice(0, 300)}`);
        assert.ok(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), 'content is not a JSON object');
      }),
    );

    test('async_structured_outputs.ts parses the streamed and the complete answer into the zod schema', T, () =>
      runOk(example('async_structured_outputs.ts'), (out) => {
        // `console.log("\n", parsed)`: undefined when the JSON did not match MathDemonstration.
        assert.equal(count(out, /final_answer: ['"`]/), 2, 'both parseStream (accumulated) and parse printed a MathDemonstration');
        assert.equal(count(out, /steps: \[/), 2);
      }),
    );
  });

  describe('function calling', () => {
    test('async_function_calling.ts gets a tool call and sends back the tool result', T, () =>
      runOk(example('async_function_calling.ts'), (out) => {
        assert.match(out, /calling functionName: (retrievePaymentStatus|retrievePaymentDate)\n/);
        assert.match(out, /functionParams: \{/);
      }),
    );

    test('async_function_calling_streaming.ts gets a streamed tool call and streams the final answer', T, () =>
      runOk(example('async_function_calling_streaming.ts'), (out) => {
        assert.match(out, /calling functionName: (retrievePaymentStatus|retrievePaymentDate)\n/);
        assert.match(out, /functionParams: \{/);
        assert.match(out, /\ndone\n$/);
      }),
    );
  });

  describe('reasoning', () => {
    test('reasoning.ts prints a thinking chunk and the answer', T, () =>
      runOk(example('reasoning.ts'), (out) => assert.match(out, /--- thinking ---\n[\s\S]*--- \/thinking ---/)),
    );

    test('reasoning_multi_turn.ts replays each assistant turn, thinking included, into the next prompt', T, () =>
      runOk(example('reasoning_multi_turn.ts'), (out) => {
        const turns = [...out.matchAll(/^turn (\d): prompt=\s*(\d+) completion=\s*(\d+)/gm)].map((m) => ({ prompt: Number(m[2]), completion: Number(m[3]) }));
        assert.equal(turns.length, 3, 'three turns printed');
        for (const [i, turn] of turns.entries()) {
          assert.ok(turn.completion > 0, `turn ${i + 1} generated nothing`);
          const next = turns[i + 1];
          // The whole assistant message (ThinkChunks and text) goes back into `messages`, so the next
          // prompt holds all of this turn's completion; 10% slack for re-tokenizing generated text.
          if (next)
            assert.ok(
              next.prompt >= turn.prompt + 0.9 * turn.completion,
              `turn ${i + 2} prompt ${next.prompt} < turn ${i + 1} prompt ${turn.prompt} + completion ${turn.completion}: the replayed turn was not counted`,
            );
        }
        assert.match(out, /^TOTAL: prompt=\d+ completion=\d+/m);
      }),
    );

    test('reasoning_response_shape.ts shows chunks for reasoningEffort high and a string for none', T, () =>
      runOk(example('reasoning_response_shape.ts'), (out) => {
        const [high, none] = out.split('reasoningEffort="none"');
        assert.ok(none !== undefined, 'the second request (none) was not printed');
        assert.match(high!, /typeof content = Array/);
        assert.match(high!, /"type": "thinking"/);
        assert.match(none, /typeof content = string/);
      }),
    );

    test('reasoning_with_streaming.ts streams a thinking phase', T, () =>
      runOk(example('reasoning_with_streaming.ts'), (out) => assert.match(out, /^--- thinking ---\n./)),
    );
  });

  describe('embeddings and models', () => {
    test('async_embeddings.ts prints a 1024-dimensional mistral-embed vector', T, () =>
      runOk(example('async_embeddings.ts'), (out) => {
        assert.match(out, /^Embeddings Batch: \[/);
        // util.inspect shows the first 100 numbers of an array: 1024 - 100 = 924 more.
        assert.equal(count(out, /\.\.\. 924 more items/), 1);
      }),
    );

    test('async_list_models.ts lists the served models', T, () =>
      runOk(example('async_list_models.ts'), (out) => {
        assert.ok(count(out, /^Model: \{/m) >= 2, 'several models listed');
        assert.match(out, /id: 'mistral-small-latest'/);
        assert.match(out, /id: 'mistral-embed'/);
      }),
    );

    test('model_management.ts lists fine-tuned models (none) and skips the write flow', T, () =>
      runOk(example('model_management.ts'), (out) => {
        assert.match(out, /^Found 0 fine-tuned model\(s\)\.$/m);
        assert.match(out, /Set MISTRAL_FINE_TUNED_MODEL_ID/);
      }),
    );
  });

  describe('errors', () => {
    test('error_handling.ts catches an SDKError for a conversation ending with an assistant turn', T, () =>
      runOk(example('error_handling.ts'), (out) => assert.match(out, /^API error occurred: Status 400\b/)),
    );

    test('async_chat_with_image_no_streaming.ts fails with a 400 SDKError naming the missing vision capability', T, async () => {
      const r = await runProgram(prepare(example('async_chat_with_image_no_streaming.ts')));
      const why = report('async_chat_with_image_no_streaming.ts', r);
      assert.ok(!r.timedOut && r.code !== 0, why);
      assert.match(r.stderr, /SDKError/, why);
      // The message, up to the stack frames: "API error occurred: Status 400[ Content-Type …][. |\n]Body: …".
      const message = /API error occurred: [\s\S]*?(?=\n\s+at )/.exec(r.stderr)?.[0] ?? '';
      assert.match(message, /^API error occurred: Status 400\b/, why);
      assert.match(message, /vision/, why);
    });
  });

  describe('documented snippets', () => {
    test('fim.complete (docs/sdks/fim/README.md) prints a codestral completion', T, () =>
      runOk(snippet('fim_complete.ts'), (out) => {
        assert.match(out, /model: 'codestral-latest'/);
        assert.match(out, /choices: \[/);
      }),
    );

    test('classifiers.moderate (docs/sdks/classifiers/README.md) prints moderation results', T, () =>
      runOk(snippet('classifiers_moderate.ts'), (out) => {
        assert.match(out, /results: \[/);
        assert.match(out, /categoryScores:/);
      }),
    );

    test('classifiers.moderateChat (docs/sdks/classifiers/README.md) prints moderation results', T, () =>
      runOk(snippet('classifiers_moderate_chat.ts'), (out) => {
        assert.match(out, /results: \[/);
        assert.match(out, /categoryScores:/);
      }),
    );

    test('classifiers.classify (docs/sdks/classifiers/README.md) prints classification results', T, () =>
      runOk(snippet('classifiers_classify.ts'), (out) => assert.match(out, /results: \[\s*\{/)),
    );

    test('classifiers.classifyChat (docs/sdks/classifiers/README.md) prints a result', T, () =>
      runOk(snippet('classifiers_classify_chat.ts'), (out) => assert.match(out, /results: \[/)),
    );
  });
});
