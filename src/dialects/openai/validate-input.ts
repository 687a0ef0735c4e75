import type { Readable } from 'node:stream';
import { CustomIdSet } from '../../ingest/custom-id-set.js';
import { LineSplitter } from '../../ingest/line-splitter.js';
import { isBlank, isProblem, parseBatchLine } from '../../ingest/batch-line.js';
import type { JobValidationErrorTable } from '../../store/schema.js';
import { isResponsesBody } from './responses-request.js';

/** One entry of a failed batch's `errors.data`, as OpenAI documents it. */
export type BatchError = Omit<JobValidationErrorTable, 'job_id' | 'seq'>;

export interface InputCheck {
  /** The model every line names (the first line's; '' when no line names one). */
  model: string;
  errors: BatchError[];
}

/**
 * A Responses batch runs as a chat job whose lines are told apart by shape (line-format.ts),
 * so each line must have its endpoint's: a Responses request (`input`, no `messages`) on
 * /v1/responses, a chat request (never that shape) on /v1/chat/completions.
 */
function kindMismatch(body: Record<string, unknown>, endpoint: string) {
  if (endpoint === '/v1/responses' && !isResponsesBody(body)) {
    return {
      param: 'body.input',
      message: 'Missing required parameter: body.input (a /v1/responses line is a Responses request; messages belong to /v1/chat/completions).',
    };
  }
  if (endpoint === '/v1/chat/completions' && isResponsesBody(body)) {
    return { param: 'body.messages', message: 'Missing required parameter: body.messages (input belongs to /v1/responses).' };
  }
  return null;
}

/** OpenAI stops listing after a while too; the batch is failed whatever the count. */
const MAX_ERRORS = 100;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Checks an uploaded batch file against OpenAI's line form, `{custom_id, method: "POST",
 * url, body}`, as OpenAI validates a batch before running it: every line's url must be
 * the batch's endpoint and every body must name the same model. A file an OpenAI client
 * uploaded is kept with invalid lines (api/files.ts), so each line's JSON and custom_id
 * uniqueness are checked here too. Streams the file: memory stays bounded.
 */
export async function checkOpenAiInput(bytes: Readable, endpoint: string): Promise<InputCheck> {
  const errors: BatchError[] = [];
  const add = (e: BatchError) => {
    if (errors.length < MAX_ERRORS) errors.push(e);
  };
  let model = '';
  let modelLine = 0;
  let line = 0;
  const ids = new CustomIdSet();
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER, {
    line: (raw, start) => {
      line++;
      const text = start === 0 && raw.subarray(0, 3).equals(BOM) ? raw.subarray(3) : raw;
      if (isBlank(text)) return;
      const parsed = parseBatchLine(text);
      if (isProblem(parsed)) return add({ line, code: 'invalid_json_line', message: `This line is not a valid request: it ${parsed.message}.`, param: null });
      const value = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
      const first = parsed.custom_id === null ? null : ids.add(parsed.custom_id, line);
      if (parsed.custom_id === null) add({ line, code: 'missing_required_parameter', message: 'Missing required parameter: custom_id.', param: 'custom_id' });
      else if (first !== null) {
        add({
          line,
          code: 'duplicate_custom_id',
          message: `The custom_id ${JSON.stringify(parsed.custom_id)} is already used on line ${first}.`,
          param: 'custom_id',
        });
      }
      if (value.method === undefined) add({ line, code: 'missing_required_parameter', message: 'Missing required parameter: method.', param: 'method' });
      else if (value.method !== 'POST')
        add({ line, code: 'invalid_method', message: `method must be "POST", got ${JSON.stringify(value.method)}.`, param: 'method' });
      if (value.url === undefined) add({ line, code: 'missing_required_parameter', message: 'Missing required parameter: url.', param: 'url' });
      else if (value.url !== endpoint) {
        add({ line, code: 'url_mismatch', message: `The url ${JSON.stringify(value.url)} does not match the batch's endpoint ${endpoint}.`, param: 'url' });
      }
      // Only where the url is right: a line with another url has its error already.
      const kind = value.url === endpoint ? kindMismatch(parsed.body, endpoint) : null;
      if (kind) add({ line, code: 'missing_required_parameter', message: kind.message, param: kind.param });
      const m = parsed.body.model;
      if (typeof m !== 'string' || m === '') {
        add({
          line,
          code: 'missing_required_parameter',
          message: 'Missing required parameter: body.model (a batch runs the model its lines name).',
          param: 'body.model',
        });
      } else if (!model) {
        model = m;
        modelLine = line;
      } else if (m !== model) {
        add({
          line,
          code: 'model_mismatch',
          message: `The model ${JSON.stringify(m)} differs from ${JSON.stringify(model)} on line ${modelLine}: every line of a batch must use the same model.`,
          param: 'body.model',
        });
      }
    },
    overlong: () => undefined,
  });
  for await (const chunk of bytes) splitter.push(chunk as Buffer);
  splitter.end();
  return { model, errors };
}
