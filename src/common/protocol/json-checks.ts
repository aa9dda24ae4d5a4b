/**
 * Checks for JSON received over the controller <-> satellite link (a JSON scalar, so anything): each returns the
 * value typed, or throws an Error naming the path of the offending field, e.g. `state.volumes[2].sizeKib: expected a
 * string`. Used by both sides, so a malformed message becomes a readable error, never a TypeError mid-way.
 */

export function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${path}: expected an object`);
  return value as Record<string, unknown>;
}

export function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${path}: expected an array`);
  return value;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new Error(`${path}: expected a string`);
  return value;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new Error(`${path}: expected true or false`);
  return value;
}

/** A non-negative safe integer. */
export function integer(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Error(`${path}: expected a non-negative integer`);
  return value;
}
