import {
  CheckConstraintViolationException,
  DeadlockException,
  ForeignKeyConstraintViolationException,
  UniqueConstraintViolationException,
} from '@mikro-orm/core';
import { ApiError, ErrorCode, type ObjectKind } from '../common/api-rc.js';

/** Unique constraints and the object kind whose name they protect. */
const UNIQUE_KINDS: Record<string, ObjectKind> = {
  node_name_key_unique: 'node',
  net_interface_node_name_key_unique: 'net interface',
  storage_pool_node_name_key_unique: 'storage pool',
  resource_group_name_key_unique: 'resource group',
  resource_definition_name_key_unique: 'resource definition',
  volume_group_number_unique: 'volume group',
  volume_definition_number_unique: 'volume definition',
  resource_definition_node_unique: 'resource',
  volume_resource_definition_unique: 'volume',
};

/**
 * Translates a database constraint violation into an ApiError. Services check these rules first to produce
 * precise messages; this is the backstop when two requests race, where the database has the last word.
 * Anything else is returned unchanged (and later masked as an internal error).
 */
export function translateDbError(error: unknown): unknown {
  const constraint = (error as { constraint?: string }).constraint ?? '';
  const detail = (error as { detail?: string }).detail ?? '';
  if (error instanceof UniqueConstraintViolationException) {
    const kind = UNIQUE_KINDS[constraint];
    const value = /=\((?:[^,]*, )?([^)]*)\)/.exec(detail)?.[1] ?? '?';
    if (kind) return ApiError.alreadyExists(kind, value);
    return new ApiError({ code: ErrorCode.CONFLICT, message: `A concurrent change created the same object (${constraint}).`, correction: 'Retry the request.' });
  }
  if (error instanceof ForeignKeyConstraintViolationException) {
    // PostgreSQL's detail tells the two directions apart: "... is not present in table ..." (the new row points at
    // something a concurrent request deleted) vs "... is still referenced from table ..." (a delete of a used row).
    if (/is not present in table/.test(detail)) {
      return new ApiError({
        code: ErrorCode.CONFLICT,
        message: `An object this request refers to was deleted by a concurrent request (${constraint}).`,
        correction: 'Re-read the objects and retry.',
        details: { constraint },
      });
    }
    return new ApiError({
      code: ErrorCode.IN_USE,
      message: `Other objects still refer to this one (${constraint}); a concurrent request may have added them.`,
      correction: 'Re-read the objects, delete or move what uses it, and retry.',
      details: { constraint },
    });
  }
  if (error instanceof DeadlockException || (error as { code?: string }).code === '40001') {
    return new ApiError({ code: ErrorCode.CONFLICT, message: 'A concurrent request changed the same objects.', correction: 'Retry the request.' });
  }
  if (error instanceof CheckConstraintViolationException) {
    return new ApiError({ code: ErrorCode.INVALID_VALUE, message: `A value is out of its allowed range (${constraint}).`, correction: 'Check the limits in the API documentation.' });
  }
  return error;
}
