import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { unwrapResolverError } from '@apollo/server/errors';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ApiError } from '../common/api-rc.js';

/**
 * The only place that turns errors into what clients see.
 * - ApiError (a refusal caused by the request): message, `extensions.code`, `field`, `correction`, `details`.
 * - Errors GraphQL itself raised (syntax, validation, bad variables): passed through, they describe the request.
 * - Anything else is a bug: logged with an id, and the client gets INTERNAL_SERVER_ERROR with that id only,
 *   never a message or stack trace from inside.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, log: Logger): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof ApiError) {
    return {
      message: original.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        code: original.code,
        ...(original.field !== undefined && { field: original.field }),
        ...(original.correction !== undefined && { correction: original.correction }),
        ...(original.details !== undefined && { details: original.details }),
      },
    };
  }
  if (original instanceof GraphQLError && (original.originalError === undefined || original.originalError instanceof GraphQLError)) {
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  const errorId = randomUUID();
  log.error({ err: original, errorId, path: formatted.path }, 'unexpected error while executing an operation');
  return {
    message: `Internal server error (error id ${errorId}); the controller log has the details.`,
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR', errorId },
  };
}

/** Codes of the refusals the HTTP layer gives before (or instead of) GraphQL; the API's own are in ErrorCode. */
export const HttpErrorCode = {
  /** The request could not be read: malformed JSON, body over the size limit, unsupported charset or encoding. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** Nothing is served at that path (also a missing GraphiQL asset). */
  NOT_FOUND: 'NOT_FOUND',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;

/** A response body in the GraphQL error shape, for answers that never reached GraphQL. */
export function errorBody(code: string, message: string, extensions: Record<string, unknown> = {}): { errors: GraphQLFormattedError[] } {
  return { errors: [{ message, extensions: { code, ...extensions } }] };
}

/** body-parser's error types whose message describes the request (never the server): safe to send back. */
const BODY_ERRORS: Record<string, string | undefined> = {
  'entity.parse.failed': 'Send a JSON object such as {"query": "{ __typename }"} with Content-Type: application/json.',
  'entity.too.large': 'Send a smaller body (the limit is 2 MB); split large mutations.',
  'entity.verify.failed': undefined,
  'charset.unsupported': 'Send the body in UTF-8.',
  'encoding.unsupported': 'Send the body uncompressed or with gzip, deflate or br.',
  'request.aborted': undefined,
  'request.size.invalid': undefined,
  'parameters.too.many': undefined,
};

/**
 * Last route: a JSON 404 for every path nothing else served (including a missing GraphiQL asset), naming the URL
 * path the client asked for and nothing of the server's files.
 */
export function notFoundHandler(): RequestHandler {
  return (req, res) => {
    const urlPath = req.originalUrl.split('?')[0] ?? '';
    const shown = urlPath.length > 200 ? `${urlPath.slice(0, 200)}...` : urlPath;
    res.status(404).json(errorBody(HttpErrorCode.NOT_FOUND, `Nothing is served at ${req.method} ${shown}.`, { correction: 'The API and GraphiQL are at /graphql; health at /health.' }));
  };
}

/**
 * Last middleware: every error Express routes (body parsing, static files, a bug in a handler) becomes a JSON
 * error in the GraphQL shape. Client errors (4xx) say what was wrong with the request, using the message only when
 * body-parser wrote it about the request; anything else is logged with an id and answered with that id alone.
 * Never a stack trace, a file path or Express's HTML page.
 */
export function httpErrorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    // Too late for a clean answer: Express closes the connection.
    if (res.headersSent) return next(error);
    const fields = (typeof error === 'object' && error !== null ? error : {}) as { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown; message?: unknown };
    const status = [fields.status, fields.statusCode].find((s): s is number => typeof s === 'number' && Number.isInteger(s) && s >= 400 && s <= 599) ?? 500;
    if (status < 500) {
      const type = typeof fields.type === 'string' ? fields.type : undefined;
      const fromBodyParser = type !== undefined && type in BODY_ERRORS && fields.expose === true && typeof fields.message === 'string';
      const reason = fromBodyParser ? String(fields.message) : (STATUS_CODES[status] ?? 'Bad request');
      const correction = type !== undefined ? BODY_ERRORS[type] : undefined;
      const code = status === 404 ? HttpErrorCode.NOT_FOUND : HttpErrorCode.BAD_REQUEST;
      res.status(status).json(errorBody(code, `The request was refused: ${reason}.`.replace(/\.\.$/, '.'), correction ? { correction } : {}));
      return;
    }
    const errorId = randomUUID();
    log.error({ err: error, errorId, method: req.method, url: req.originalUrl }, 'unexpected error while serving an HTTP request');
    res.status(500).json(errorBody(HttpErrorCode.INTERNAL_SERVER_ERROR, `Internal server error (error id ${errorId}); the controller log has the details.`, { errorId }));
  };
}
