/**
 * The one registry of errors the gateway itself produces. Codes are part of the public contract:
 * never rename one once shipped. `type` follows the OpenAI error envelope vocabulary so that
 * OpenAI-compatible clients classify gateway errors the same way as upstream ones.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, type: 'invalid_request_error', message: 'The request body is not valid JSON.' },
  invalid_request: { status: 400, type: 'invalid_request_error', message: 'The request is not valid.' },
  missing_required_parameter: { status: 400, type: 'invalid_request_error', message: 'A required parameter is missing.' },
  unauthorized: { status: 401, type: 'authentication_error', message: 'Missing or invalid credentials for this gateway.' },
  request_timeout: { status: 408, type: 'invalid_request_error', message: 'The request was not received in time.' },
  host_not_allowed: { status: 403, type: 'permission_error', message: 'The Host or Origin of this request is not allowed.' },
  insufficient_scope: { status: 403, type: 'permission_error', message: 'The access token lacks a required scope.' },
  unknown_route: { status: 404, type: 'invalid_request_error', message: 'No route matches this method and path.' },
  not_found: { status: 404, type: 'invalid_request_error', message: 'The requested item does not exist.' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', message: 'This path does not answer this method.' },
  body_too_large: { status: 413, type: 'invalid_request_error', message: 'The request body exceeds the size limit.' },
  headers_too_large: { status: 431, type: 'invalid_request_error', message: 'The request headers are too large.' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', message: 'The request content type is not supported.' },
  internal_error: { status: 500, type: 'server_error', message: 'The gateway failed to process the request.' },
  feature_not_supported: { status: 501, type: 'server_error', message: 'This operation uses a capability feature this runtime does not execute yet.' },
  upstream_unreachable: { status: 502, type: 'server_error', message: 'The upstream API could not be reached.' },
  upstream_not_configured: { status: 502, type: 'server_error', message: 'The upstream API has no base URI; start the gateway with --base-uri.' },
  upstream_invalid_response: { status: 502, type: 'server_error', message: 'The upstream API answered with a response the gateway could not read.' },
  upstream_response_too_large: { status: 502, type: 'server_error', message: 'The upstream answer is larger than the gateway reads whole (--response-limit).' },
  upstream_stream_broken: { status: 502, type: 'server_error', message: 'The upstream stream ended before it was complete.' },
  upstream_timeout: { status: 504, type: 'server_error', message: 'The upstream API did not answer in time.' },
} as const satisfies Record<string, { status: number; type: string; message: string }>

export type ErrorCode = keyof typeof ERROR_CODES
