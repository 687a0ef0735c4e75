import { ERROR_CATALOGUE, httpVariant, type ErrorType, type HttpEntry, type HttpErrorCode } from './error-catalogue.js';

export { ERROR_CATALOGUE, isErrorCode, type ErrorCode, type ErrorType, type HttpErrorCode, type EngineErrorCode } from './error-catalogue.js';

export interface ValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export interface ErrorOptions {
  param?: string | null;
  /** FastAPI-style entries (422s, invalid batch files). */
  detail?: ValidationDetail[];
  /** One of the code's `alsoAs` statuses, where the route answers it with another status than usual. */
  status?: number;
}

/** Mistral's error body: `{object: "error", message, type, param, code}`, plus `detail` when there is one. */
export interface MistralErrorBody {
  object: 'error';
  message: string;
  type: ErrorType;
  param: string | null;
  code: string | null;
  detail?: ValidationDetail[];
}

/**
 * One error type for every failure a client can see. Handlers throw ApiError; the
 * error hook in api/app.ts renders it as Mistral's error body. The `code` is stable
 * and is what tests assert on; the message is for humans and says what to fix.
 * Build them by name from the catalogue (error-catalogue.ts) with `apiError`.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly detail?: ValidationDetail[];

  constructor(init: { status: number; type: ErrorType; code: string; message: string; param?: string | null; detail?: ValidationDetail[] }) {
    super(init.message);
    this.name = 'ApiError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param ?? null;
    if (init.detail) this.detail = init.detail;
  }

  /**
   * Mistral's `{object:"error", message, type, param, code}` body. 422s also carry a
   * FastAPI-style `detail` array, which is what Mistral's own 422s contain and what the
   * SDK's HTTPValidationError parses on the inference routes.
   */
  toBody(): MistralErrorBody {
    return renderBody(this.message, this.type, this.param, this.code, this.detail);
  }
}

function renderBody(message: string, type: ErrorType, param: string | null, code: string | null, detail?: ValidationDetail[]): MistralErrorBody {
  const body: MistralErrorBody = { object: 'error', message, type, param, code };
  if (detail) body.detail = detail;
  return body;
}

/** The catalogue's error `code`, with its status and type. */
export function apiError(code: HttpErrorCode, message: string, opts: ErrorOptions = {}): ApiError {
  const { status, type } = httpVariant(code, opts.status);
  return new ApiError({ status, type, code, message, param: opts.param ?? null, detail: opts.detail });
}

/**
 * The body an engine records for a failed request (a batch line's `response.body`): Mistral's
 * shape, with the catalogue's `bodyType`/`bodyCode` for codes whose body differs from the
 * online answer (Mistral's own bodies for a refused request carry `code: null`).
 */
export function errorBody(code: HttpErrorCode, message: string, opts: Omit<ErrorOptions, 'status'> = {}): MistralErrorBody {
  const entry = ERROR_CATALOGUE[code] as HttpEntry;
  const bodyCode = entry.engine?.bodyCode === null ? null : code;
  return renderBody(message, entry.engine?.bodyType ?? entry.type, opts.param ?? null, bodyCode, opts.detail);
}
