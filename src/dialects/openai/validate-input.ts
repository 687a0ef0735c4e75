import type { Readable } from 'node:stream';
import { LineSplitter } from '../../ingest/line-splitter.js';
import { isBlank, isProblem, parseBatchLine } from '../../ingest/batch-line.js';
import type { JobValidationErrorTable } from '../../store/schema.js';

/** One entry of a failed batch's `errors.data`, as OpenAI documents it. */
export type BatchError = Omit<JobValidationErrorTable, 'job_id' | 'seq'>;

export interface InputCheck {
  /** The model every line names (the first line's; '' when no line names one). */
  model: string;
  errors: BatchError[];
}

/** OpenAI stops listing after a while too; the batch is failed whatever the count. */
const MAX_ERRORS = 100;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Checks an uploaded batch file against OpenAI's line form, `{custom_id, method: "POST",
 * url, body}`, as OpenAI validates a batch before running it: every line's url must be
 * the batch's endpoint and every body must name the same model. The upload already
 * proved each line is a JSON object with a body and a unique custom_id, so this pass
 * checks only what OpenAI's form adds. Streams the file: memory stays bounded.
 */
export async function checkOpenAiInput(bytes: Readable, endpoint: string): Promise<InputCheck> {
  const errors: BatchError[] = [];
  const add = (e: BatchError) => {
    if (errors.length < MAX_ERRORS) errors.push(e);
  };
  let model = '';
  let modelLine = 0;
  let line = 0;
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER, {
    line: (raw, start) => {
      line++;
      const text = start === 0 && raw.subarray(0, 3).equals(BOM) ? raw.subarray(3) : raw;
      if (isBlank(text)) return;
      const parsed = parseBatchLine(text);
      if (isProblem(parsed)) return add({ line, code: 'invalid_json_line', message: `This line is not a valid request: it ${parsed.message}.`, param: null });
      const value = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
      if (parsed.custom_id === null) add({ line, code: 'missing_required_parameter', message: 'Missing required parameter: custom_id.', param: 'custom_id' });
      if (value.method === undefined) add({ line, code: 'missing_required_parameter', message: 'Missing required parameter: method.', param: 'method' });
      else if (value.method !== 'POST')
        add({ line, code: 'invalid_method', message: `method must be "POST", got ${JSON.stringify(value.method)}.`, param: 'method' });
      if (value.url === undefined) add({ line, code: 'missing_required_parameter', message: 'Missing required parameter: url.', param: 'url' });
      else if (value.url !== endpoint) {
        add({ line, code: 'url_mismatch', message: `The url ${JSON.stringify(value.url)} does not match the batch's endpoint ${endpoint}.`, param: 'url' });
      }
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
