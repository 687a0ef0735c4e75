/**
 * One error type for every failure a client can see. Handlers throw ApiError; the
 * error hook in api/app.ts renders it as Mistral's error body. The `code` is stable
 * and is what tests assert on; the message is for humans and says what to fix.
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
  | 'internal_error';

export interface ValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly detail?: ValidationDetail[],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /**
   * Mistral's `{object:"error", message, type, param, code}` body. 422s also carry a
   * FastAPI-style `detail` array, which is what Mistral's own 422s contain and what the
   * SDK's HTTPValidationError parses on the inference routes.
   */
  toBody(): Record<string, unknown> {
    const body: Record<string, unknown> = {
      object: 'error',
      message: this.message,
      type: this.type,
      param: this.param,
      code: this.code,
    };
    if (this.detail) body.detail = this.detail;
    return body;
  }
}

export const badRequest = (code: string, message: string, param: string | null = null) =>
  new ApiError(400, 'invalid_request_error', code, message, param);

export const unprocessable = (code: string, message: string, param: string | null = null, detail?: ValidationDetail[]) =>
  new ApiError(422, 'invalid_request_error', code, message, param, detail);

export const notFound = (what: string, id: string) =>
  new ApiError(404, 'not_found_error', `${what}_not_found`, `No ${what.replace(/_/g, ' ')} with id '${id}' exists in this workspace.`, null);

export const conflict = (code: string, message: string) => new ApiError(409, 'conflict_error', code, message);

export const unauthorized = (message = 'Unauthorized') =>
  new ApiError(401, 'authentication_error', 'unauthorized', message);
