/**
 * The one error vocabulary of blockplane. Every refusal a user can cause is an {@link ApiError} with a stable
 * `code`, a message saying what went wrong, the offending input `field` (when there is one) and a `correction`
 * saying how to fix it. Only `graph/errors.ts` turns these into GraphQL errors; anything that is not an ApiError
 * is treated as a bug and masked at the edge.
 */

/** Stable, documented error codes. Clients may switch on them; never rename one. */
export const ErrorCode = {
  INVALID_NAME: 'INVALID_NAME',
  INVALID_SIZE: 'INVALID_SIZE',
  INVALID_PROPERTY: 'INVALID_PROPERTY',
  INVALID_VALUE: 'INVALID_VALUE',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  IN_USE: 'IN_USE',
  NOT_ALLOWED: 'NOT_ALLOWED',
  SIZE_SHRINK: 'SIZE_SHRINK',
  CONFLICT: 'CONFLICT',
  RANGE_EXHAUSTED: 'RANGE_EXHAUSTED',
  PLACEMENT_FAILED: 'PLACEMENT_FAILED',
  SUBSCRIPTION_REQUIRES_WEBSOCKET: 'SUBSCRIPTION_REQUIRES_WEBSOCKET',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The kinds of object the API manages; used in messages and in error details. */
export type ObjectKind =
  | 'node'
  | 'net interface'
  | 'storage pool'
  | 'resource group'
  | 'volume group'
  | 'resource definition'
  | 'volume definition'
  | 'resource'
  | 'volume'
  | 'controller';

export interface ApiErrorInit {
  code: ErrorCode;
  message: string;
  /** Input path of the offending value, e.g. `input.name` or `input.props["StorDriver/FileDir"]`. */
  field?: string;
  /** What the user should do instead. Always phrased as an action. */
  correction?: string;
  /** Machine-readable context, e.g. the objects that still use the one being deleted. */
  details?: Record<string, unknown>;
}

/** A refusal caused by the request, safe to show to the user. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly correction: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = 'ApiError';
    this.code = init.code;
    this.field = init.field;
    this.correction = init.correction;
    this.details = init.details;
  }

  static notFound(kind: ObjectKind, name: string, field?: string): ApiError {
    return new ApiError({
      code: ErrorCode.NOT_FOUND,
      message: `The ${kind} '${name}' does not exist.`,
      field,
      correction: `Check the spelling (names are case-insensitive) or create the ${kind} first.`,
      details: { kind, name },
    });
  }

  static alreadyExists(kind: ObjectKind, name: string, field?: string): ApiError {
    return new ApiError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `A ${kind} named '${name}' already exists (names are compared case-insensitively).`,
      field,
      correction: `Choose another name, or modify the existing ${kind}.`,
      details: { kind, name },
    });
  }

  /** Deleting `kind name` is refused because the listed objects still use it. */
  static inUse(kind: ObjectKind, name: string, users: { kind: ObjectKind; names: string[] }[]): ApiError {
    const parts = users
      .filter((u) => u.names.length > 0)
      .map((u) => `${u.names.length} ${u.kind}${u.names.length === 1 ? '' : 's'} (${preview(u.names)})`);
    return new ApiError({
      code: ErrorCode.IN_USE,
      message: `The ${kind} '${name}' is still in use by ${parts.join(' and ')}.`,
      correction: `Delete or move those objects first, then delete the ${kind}.`,
      details: { kind, name, usedBy: users.filter((u) => u.names.length > 0) },
    });
  }

  static invalid(code: ErrorCode, field: string, message: string, correction: string): ApiError {
    return new ApiError({ code, field, message, correction });
  }
}

/** Thrown for states the code believes impossible; always a bug, never shown to users verbatim. */
export class ImplementationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImplementationError';
  }
}

function preview(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown}, ... ${names.length - 5} more` : shown;
}
