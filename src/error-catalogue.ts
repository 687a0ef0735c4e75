/**
 * Every error `code` batchd can send, with its HTTP status, Mistral `type` and meaning.
 * Errors are built from here by name (errors.ts: `apiError`, `engineError`, `errorBody`);
 * test/errors/catalogue.test.ts fails when src/ uses a code that is not listed, and
 * docs/errors.md is rendered from this table (`node --import tsx scripts/render-errors-doc.ts`).
 *
 * `status`/`type` are what an HTTP client gets. A few codes are sent with another status
 * too, for wire compatibility with what Mistral answers on that route (`alsoAs`). Codes
 * with `engine` are failures of one inference request: the online routes answer them
 * directly; in a batch they end up in the error file's `error.code`, with the engine's
 * status and body in `response`. Codes with `line: true` appear only in error files.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'storage_error'
  | 'internal_error'
  | 'upstream_error';

export interface HttpEntry {
  status: number;
  type: ErrorType;
  meaning: string;
  /** The same code sent with another status on some route (`status: 'any'`: the status is passed through, see `where`). */
  alsoAs?: readonly { status: number | 'any'; type: ErrorType; where: string }[];
  /**
   * A failure of one inference request. `retry`: the runner retries the line (with backoff,
   * honouring Retry-After) and online answers carry Retry-After when known. In the body an
   * engine records for a batch line, `bodyType` replaces `type` and `bodyCode: null` sends
   * `code: null` (what Mistral's own endpoint answers); `lineStatus` is the status recorded
   * there when it differs from the online one.
   */
  engine?: { retry: boolean; bodyType?: ErrorType; bodyCode?: null; lineStatus?: string };
  line?: undefined;
}

/** A code that only a batch error file's line carries (`error.code`), never an HTTP answer. */
export interface LineEntry {
  line: true;
  meaning: string;
}

export type CatalogueEntry = HttpEntry | LineEntry;

const invalid = <M extends Partial<HttpEntry> = object>(status: number, meaning: string, more?: M): HttpEntry & M =>
  ({ status, type: 'invalid_request_error', meaning, ...more }) as HttpEntry & M;

export const ERROR_CATALOGUE = {
  // Transport and request framing
  request_timeout: invalid(408, "The request headers or body did not arrive within the server's timeout."),
  upload_too_slow: invalid(408, 'An upload fell under the minimum rate (BATCHD_MIN_UPLOAD_BYTES_PER_SEC); nothing was stored.'),
  headers_too_large: invalid(431, "The request headers exceed the server's maximum header size."),
  malformed_request: invalid(400, 'The HTTP request could not be parsed.'),
  invalid_url: invalid(400, 'The request path is not a valid URL (malformed percent-encoding).'),
  route_not_found: { status: 404, type: 'not_found_error', meaning: 'No route has this path.' },
  method_not_allowed: invalid(405, 'The path exists but not for this method; the Allow header lists the methods it takes.'),
  server_closing: { status: 503, type: 'internal_error', meaning: 'The server is shutting down; retry on another node or shortly.' },
  bad_request: invalid(400, 'A 4xx the HTTP framework raised without a code of its own (framework codes such as fst_err_* are passed through lowercased).', {
    alsoAs: [{ status: 'any', type: 'invalid_request_error', where: "the framework's own 4xx status" }],
  }),

  // Request bodies
  unsupported_media_type: {
    status: 415,
    type: 'unsupported_media_type',
    meaning: "The body's content type is not the one the route takes (JSON, or multipart/form-data for uploads).",
  },
  body_too_large: { status: 413, type: 'payload_too_large', meaning: "The JSON body exceeds the route's size limit." },
  invalid_json: invalid(400, 'The request body is not valid JSON.'),
  json_too_deep: invalid(400, 'The JSON body nests deeper than BATCHD_MAX_JSON_DEPTH.'),
  invalid_body: invalid(422, 'The request body is not a JSON object.'),
  validation_error: invalid(422, "The body does not match the route's schema; `detail` lists each problem FastAPI-style."),
  extra_forbidden: invalid(422, 'An upload form has a field the route does not take.'),
  invalid_multipart: invalid(400, 'The multipart/form-data body is malformed.'),

  // Authentication
  unauthorized: { status: 401, type: 'authentication_error', meaning: 'No API key, a malformed key header, or an unknown key.' },
  too_many_auth_failures: { status: 429, type: 'rate_limited', meaning: 'Too many failed authentications from this address; retry after Retry-After.' },
  invalid_signature: { status: 403, type: 'authentication_error', meaning: 'A signed download URL is not valid for this file.' },
  signed_url_expired: { status: 403, type: 'authentication_error', meaning: 'A signed download URL has expired.' },
  untrusted_host: invalid(400, 'A signed URL was asked for through a Host not in BATCHD_TRUSTED_HOSTS.'),

  // Files
  file_not_found: { status: 404, type: 'not_found_error', meaning: 'No file with this id exists in the workspace (or it was deleted or expired).' },
  file_too_large: { status: 413, type: 'payload_too_large', meaning: 'The uploaded file exceeds BATCHD_MAX_FILE_BYTES.' },
  missing_file: invalid(422, 'The upload form has no "file" part.'),
  unexpected_file_part: invalid(422, 'The upload form has a file part not named "file", or more than one file.'),
  invalid_purpose: invalid(422, "The upload's purpose is not batch, fine-tune or ocr."),
  invalid_visibility: invalid(422, "The upload's visibility is not workspace or user."),
  invalid_expiry: invalid(422, "The upload's expiry is not a whole number of hours from 1 to 8760."),
  invalid_batch_file: invalid(400, 'A batch upload has invalid lines; `detail` names each line and its problem code.'),
  empty_file: invalid(400, 'A batch upload contains no requests.'),
  storage_quota_exceeded: { status: 413, type: 'payload_too_large', meaning: "The workspace's storage quota (bytes) would be exceeded; nothing was stored." },
  file_quota_exceeded: invalid(403, "The workspace's file-count quota would be exceeded; nothing was stored."),

  // Batch lines, as problems of inline requests (422) and as `detail[].type` of invalid_batch_file
  line_not_object: invalid(422, 'A request line is not a JSON object.'),
  missing_body: invalid(422, 'A request line has no "body".'),
  body_not_object: invalid(422, 'A request line\'s "body" is not a JSON object.'),
  invalid_custom_id: invalid(422, 'A request line\'s "custom_id" is not a string or is too long.'),
  duplicate_custom_id: invalid(422, 'Two requests of one job share a custom_id.'),
  invalid_utf8: invalid(400, "A line of a batch file is not valid UTF-8 (reported in invalid_batch_file's detail)."),
  line_too_long: invalid(400, "A line of a batch file exceeds BATCHD_MAX_LINE_BYTES (reported in invalid_batch_file's detail)."),

  // Batch jobs
  batch_job_not_found: { status: 404, type: 'not_found_error', meaning: 'No batch job with this id exists in the workspace.' },
  invalid_input: invalid(422, 'A job needs exactly one of input_files or requests.'),
  invalid_input_file: invalid(400, 'An input file is not a batch input (wrong purpose, or a result file).'),
  duplicate_input_file: invalid(422, 'input_files lists the same file twice.'),
  input_file_deleted: { status: 409, type: 'conflict_error', meaning: 'A job cannot be retried: an input file it read was deleted or has expired.' },
  too_many_inline_requests: invalid(422, 'An inline job has more requests than BATCHD_MAX_INLINE_REQUESTS.'),
  too_many_requests: invalid(422, 'The job would take the workspace past its pending-requests cap.'),
  nothing_to_run: invalid(422, 'The job has no requests.'),
  missing_model: invalid(422, 'The request names no model.'),
  model_not_found: {
    status: 404,
    type: 'not_found_error',
    meaning: 'No model of this name is served.',
    alsoAs: [
      { status: 400, type: 'invalid_request_error', where: 'online inference (Mistral answers "Invalid model")' },
      { status: 422, type: 'invalid_request_error', where: 'batch job creation' },
    ],
  },
  endpoint_not_supported: invalid(422, 'The model does not serve this endpoint.', {
    alsoAs: [{ status: 400, type: 'invalid_request_error', where: 'online inference' }],
  }),
  unsupported_endpoint: invalid(422, 'The endpoint is a Mistral batch endpoint batchd does not run.'),
  invalid_endpoint: invalid(422, 'The endpoint is not a batch endpoint.'),
  invalid_idempotency_key: invalid(400, 'The Idempotency-Key header is not 1-255 characters.'),
  job_not_finished: { status: 409, type: 'conflict_error', meaning: 'The job is still running: retry or delete it once it has finished.' },
  nothing_to_retry: { status: 409, type: 'conflict_error', meaning: 'The job has no failed requests to retry.' },
  too_many_outputs_for_inline: invalid(400, 'The job has too many requests for inline results; download output_file instead.'),
  invalid_query: invalid(400, 'A query parameter is repeated or has an invalid value.'),
  too_many_metadata_filters: invalid(400, 'The job list was given more metadata filters than a job can have keys.'),

  // Scheduling, pause, webhooks and estimates (issue 16)
  invalid_priority: invalid(400, "A job's priority (the create body's priority or metadata.priority) is not high, normal or low."),
  invalid_webhook_url: invalid(400, "A job's webhook_url (create body, metadata.webhook_url) is not an http(s) URL batchd may call."),
  job_already_finished: { status: 409, type: 'conflict_error', meaning: 'The job has ended; it can no longer be paused or resumed.' },

  // Anthropic dialect (/v1/messages, /v1/messages/batches; answered in Anthropic's error shape)
  anthropic_version_required: invalid(400, 'A request to an Anthropic route has no anthropic-version header.'),
  anthropic_mixed_models: invalid(400, 'An Anthropic message batch names more than one model; a batch runs one model.'),

  // OpenAI dialect (/v1/batches, /v1/completions; answered in OpenAI's error shape {error: {message, type, param, code}})
  invalid_completion_window: invalid(400, 'An OpenAI batch asks for a completion_window other than "24h".'),
  batch_endpoint_not_supported: invalid(400, 'An OpenAI batch names an endpoint batchd does not run for OpenAI batches.'),
  invalid_metadata: invalid(400, "An OpenAI batch's metadata breaks OpenAI's limits (16 keys of up to 64 characters, values of up to 512)."),

  // Store
  insufficient_storage: { status: 507, type: 'storage_error', meaning: "The server's disk or database is full; nothing was stored." },
  store_busy: { status: 503, type: 'internal_error', meaning: 'The store stayed locked or hit a serialization conflict; nothing was changed, retry.' },
  store_unavailable: { status: 503, type: 'internal_error', meaning: 'The database is unreachable (down, restarting or failing over); retry shortly.' },
  internal_error: { status: 500, type: 'internal_error', meaning: 'An unexpected failure; details are in the server log, never in the answer.' },

  // Inference (online answers; in batches, the error file's error.code)
  no_engines: { status: 503, type: 'internal_error', meaning: 'This node was started without engines and serves no online inference.' },
  invalid_request: invalid(
    422,
    'The engine refused the request body (a field is missing, of the wrong type or cannot be served by this model); also an unreadable line in a batch.',
    {
      alsoAs: [{ status: 400, type: 'invalid_request_error', where: 'well-formed requests this model cannot run (Mistral answers these with 400)' }],
      engine: { retry: false, bodyCode: null },
    },
  ),
  context_length_exceeded: invalid(400, "The prompt or input is longer than the model's context.", { engine: { retry: false } }),
  too_many_inputs: invalid(400, 'The request has more inputs than this server takes in one request.', { engine: { retry: false } }),
  online_queue_full: {
    status: 429,
    type: 'rate_limited',
    meaning: "The model's online queue is full; retry after Retry-After or send a batch job.",
    engine: { retry: true },
  },
  guard_unparseable: invalid(502, 'The guard model behind moderation or classification did not answer with scores.', {
    engine: { retry: false, bodyType: 'upstream_error' },
  }),
  upstream_rejected: invalid(400, 'The upstream model server refused the request (a 4xx other than 408/429); its own body is kept.', {
    alsoAs: [{ status: 'any', type: 'invalid_request_error', where: "the upstream's own 4xx status" }],
    engine: { retry: false, bodyType: 'upstream_error', bodyCode: null },
  }),
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limited',
    meaning: 'The upstream model server answered 429.',
    engine: { retry: true, bodyType: 'upstream_error', bodyCode: null },
  },
  upstream_unavailable: {
    status: 503,
    type: 'internal_error',
    meaning: 'The upstream model server answered 408 or 5xx.',
    engine: { retry: true, bodyType: 'upstream_error', bodyCode: null, lineStatus: "the upstream's status" },
  },
  upstream_timeout: {
    status: 503,
    type: 'internal_error',
    meaning: 'The upstream model server did not answer in time.',
    engine: { retry: true, lineStatus: '504' },
  },
  upstream_unreachable: {
    status: 503,
    type: 'internal_error',
    meaning: 'The connection to the upstream model server failed (refused, reset, DNS).',
    engine: { retry: true, lineStatus: '502' },
  },
  upstream_malformed_response: {
    status: 503,
    type: 'internal_error',
    meaning: 'The upstream answered 200 with a body that cannot be read.',
    engine: { retry: true, lineStatus: '502' },
  },

  // Only in batch error files
  model_unavailable: { line: true, meaning: "The job's model could not be loaded or reached by the worker." },
  batch_expired: { line: true, meaning: 'The job reached its timeout_hours before this request ran.' },
  batch_cancelled: { line: true, meaning: 'The job was cancelled before this request finished.' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
/** Codes an HTTP answer can carry (all but the error-file-only ones). */
export type HttpErrorCode = { [C in ErrorCode]: (typeof ERROR_CATALOGUE)[C] extends LineEntry ? never : C }[ErrorCode];
/** Codes of failed inference requests (EngineError). */
export type EngineErrorCode = { [C in ErrorCode]: (typeof ERROR_CATALOGUE)[C] extends { engine: object } ? C : never }[ErrorCode];

export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_CATALOGUE, code);

export function catalogueEntry(code: ErrorCode): CatalogueEntry {
  return ERROR_CATALOGUE[code];
}

/** The status and type an HTTP code is sent with: its own, or the `alsoAs` variant for `status`. */
export function httpVariant(code: HttpErrorCode, status?: number): { status: number; type: ErrorType } {
  const entry = ERROR_CATALOGUE[code] as HttpEntry;
  if (status === undefined || status === entry.status) return { status: entry.status, type: entry.type };
  const v = entry.alsoAs?.find((a) => a.status === status) ?? entry.alsoAs?.find((a) => a.status === 'any');
  return { status, type: v?.type ?? entry.type };
}
