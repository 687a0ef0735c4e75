/** Anthropic's error types (docs: API errors), as the SDK's ErrorType names them. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/** `{type: "error", error: {type, message}, request_id}`: every Anthropic error answer, and an errored batch result's `error`. */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
  request_id: string | null;
}

/**
 * The type Anthropic gives an HTTP status: its own table for 400/401/403/404/413/429/500/529,
 * invalid_request_error for every other 4xx (as its docs say), and for 5xx an overload (503)
 * or timeout (504) where batchd's status says so, else api_error.
 */
export function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
  }
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

export const anthropicError = (status: number, message: string, requestId: string | null = null): AnthropicErrorBody => ({
  type: 'error',
  error: { type: anthropicErrorType(status), message },
  request_id: requestId,
});
