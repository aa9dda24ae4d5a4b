import { ApiError, ErrorCode, ImplementationError, type ObjectKind } from './api-rc.js';

/**
 * LINSTOR's name rules. Names are case-insensitive (compared and made unique in upper case) but keep the spelling
 * the user gave for display.
 */
interface NameRule {
  min: number;
  max: number;
  /** Human description used in error messages. */
  describe: string;
  test: (name: string) => boolean;
}

/**
 * Resource, resource group and storage pool names: 2-48 characters, letters, digits and `_` anywhere, `-` only
 * inside, the first character a letter or `_` (LINSTOR's ResourceName/StorPoolName).
 */
const identifierRule = (max: number): NameRule => ({
  min: 2,
  max,
  describe: `2-${max} characters: letters, digits and '_', '-' only inside the name, starting with a letter or '_'`,
  test: (name) => /^[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/.test(name),
});

/** Node names must be valid host names (RFC 1123): dot-separated labels of letters, digits and inner '-'. */
const hostNameRule: NameRule = {
  min: 2,
  max: 253,
  describe: "a host name of 2-253 characters: dot-separated labels of 1-63 letters, digits and inner '-'",
  test: (name) =>
    name.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) &&
    /[A-Za-z]/.test(name),
};

const rules: Partial<Record<ObjectKind, NameRule>> = {
  node: hostNameRule,
  'net interface': identifierRule(20),
  'storage pool': identifierRule(48),
  'resource group': identifierRule(48),
  'resource definition': identifierRule(48),
};

/**
 * Validates a user-given name for `kind` and returns it unchanged (the display spelling).
 * @throws ApiError INVALID_NAME naming `field` and the rule.
 */
export function checkName(kind: ObjectKind, name: string, field: string): string {
  const rule = rules[kind];
  if (!rule) throw new ImplementationError(`no name rule for ${kind}`);
  if (name.length < rule.min || name.length > rule.max || !rule.test(name)) {
    throw ApiError.invalid(
      ErrorCode.INVALID_NAME,
      field,
      `'${name}' is not a valid ${kind} name.`,
      `Use ${rule.describe}.`,
    );
  }
  return name;
}

/** The case-insensitive key a name is stored and compared by (LINSTOR keeps names upper-case internally). */
export function nameKey(name: string): string {
  return name.toUpperCase();
}

/** Fixed names LINSTOR users rely on. */
export const DEFAULT_RESOURCE_GROUP = 'DfltRscGrp';
export const DEFAULT_DISKLESS_STORAGE_POOL = 'DfltDisklessStorPool';
export const DEFAULT_NET_INTERFACE = 'default';
