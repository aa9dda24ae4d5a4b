import { randomUUID } from 'node:crypto';
import { unwrapResolverError } from '@apollo/server/errors';
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
