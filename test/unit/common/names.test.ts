import { describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode, ImplementationError, type ObjectKind } from '../../../src/common/api-rc.js';
import {
  checkName,
  DEFAULT_DISKLESS_STORAGE_POOL,
  DEFAULT_NET_INTERFACE,
  DEFAULT_RESOURCE_GROUP,
  nameKey,
} from '../../../src/common/names.js';

/** Runs `fn` and returns the ApiError it throws; fails when it throws nothing or something else. */
function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError, but nothing was thrown');
}

const IDENTIFIER_KINDS: ObjectKind[] = ['resource definition', 'resource group', 'storage pool'];

describe.each(IDENTIFIER_KINDS)('checkName for a %s (LINSTOR identifier rules)', (kind) => {
  it.each([
    ['two characters, the minimum', 'ab'],
    ['48 characters, the maximum', `r${'x'.repeat(47)}`],
    ['a leading underscore', '_rsc'],
    ['two underscores', '__'],
    ['a trailing underscore', 'rsc_'],
    ['inner hyphens', 'my-rsc-1'],
    ['digits after the first character', 'r0123456789'],
    ['mixed case', 'MyResource_01'],
    ['a letter and a digit', 'a1'],
  ])('accepts %s (%s) and returns it unchanged', (_what, name) => {
    expect(checkName(kind, name, 'input.name')).toBe(name);
  });

  it.each([
    ['one character, below the minimum', 'a'],
    ['an empty name', ''],
    ['49 characters, above the maximum', `r${'x'.repeat(48)}`],
    ['a leading hyphen', '-rsc'],
    ['a trailing hyphen', 'rsc-'],
    ['a leading digit', '1rsc'],
    ['only digits', '42'],
    ['a dot', 'my.rsc'],
    ['a space', 'my rsc'],
    ['surrounding whitespace', ' rsc '],
    ['a slash', 'a/b'],
    ['a non-ASCII letter', 'résumé'],
    ['a colon', 'a:b'],
  ])('refuses %s (%j) with INVALID_NAME on the given field', (_what, name) => {
    const error = apiError(() => checkName(kind, name, 'input.name'));
    expect(error).toMatchObject({ code: ErrorCode.INVALID_NAME, field: 'input.name' });
    expect(error.message).toBe(`'${name}' is not a valid ${kind} name.`);
    expect(error.correction).toBe(
      "Use 2-48 characters: letters, digits and '_', '-' only inside the name, starting with a letter or '_'.",
    );
  });
});

describe('checkName for a node (RFC 1123 host names)', () => {
  it.each([
    ['two characters, the minimum', 'n1'],
    ['48 characters', `n${'x'.repeat(47)}`],
    ['49 characters (host names may be longer than identifiers)', `n${'x'.repeat(48)}`],
    ['a fully qualified name', 'node-1.example.com'],
    ['a label starting with a digit', '1node'],
    ['inner hyphens', 'stor-node-01'],
    ['a label of 63 characters, the maximum', `a${'b'.repeat(62)}`],
    ['253 characters, the maximum', [`a${'b'.repeat(62)}`, 'c'.repeat(63), 'd'.repeat(63), 'e'.repeat(61)].join('.')],
    ['mixed case', 'Node1.Example.COM'],
  ])('accepts %s (%s)', (_what, name) => {
    expect(checkName('node', name, 'input.name')).toBe(name);
  });

  it.each([
    ['one character, below the minimum', 'n'],
    ['an empty name', ''],
    ['an underscore', 'node_1'],
    ['a leading underscore', '_node'],
    ['a leading hyphen', '-node'],
    ['a trailing hyphen', 'node-'],
    ['a label ending in a hyphen', 'node-.example.com'],
    ['a label of 64 characters', `a${'b'.repeat(63)}`],
    ['254 characters', [`a${'b'.repeat(62)}`, 'c'.repeat(63), 'd'.repeat(63), 'e'.repeat(62)].join('.')],
    ['an empty label', 'node..example'],
    ['a leading dot', '.node'],
    ['a trailing dot', 'node.'],
    ['a space', 'node 1'],
    ['an IP address (no letter)', '10.0.0.1'],
    ['only digits', '12'],
    ['a non-ASCII letter', 'nöde'],
  ])('refuses %s (%j) with INVALID_NAME on the given field', (_what, name) => {
    const error = apiError(() => checkName('node', name, 'input.nodes[2]'));
    expect(error).toMatchObject({ code: ErrorCode.INVALID_NAME, field: 'input.nodes[2]' });
    expect(error.message).toBe(`'${name}' is not a valid node name.`);
    expect(error.correction).toBe(
      "Use a host name of 2-253 characters: dot-separated labels of 1-63 letters, digits and inner '-'.",
    );
  });

  it('uses boundary inputs of exactly 253 and 254 characters', () => {
    const at253 = [`a${'b'.repeat(62)}`, 'c'.repeat(63), 'd'.repeat(63), 'e'.repeat(61)].join('.');
    expect(at253).toHaveLength(253);
    expect(`${at253}e`).toHaveLength(254);
  });
});

describe('checkName for a net interface', () => {
  it('uses the identifier rules with a maximum of 20 characters', () => {
    expect(checkName('net interface', DEFAULT_NET_INTERFACE, 'f')).toBe('default');
    expect(checkName('net interface', `e${'t'.repeat(19)}`, 'f')).toHaveLength(20);
    const error = apiError(() => checkName('net interface', `e${'t'.repeat(20)}`, 'input.netInterfaces[0].name'));
    expect(error).toMatchObject({ code: ErrorCode.INVALID_NAME, field: 'input.netInterfaces[0].name' });
    expect(error.correction).toContain('2-20 characters');
  });
});

describe('checkName for kinds without a name rule', () => {
  it('throws an implementation error, not an ApiError', () => {
    let thrown: unknown;
    try {
      checkName('volume', 'v1', 'f');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).toBeInstanceOf(ImplementationError);
    expect((thrown as Error).message).toBe('no name rule for volume');
  });
});

describe('nameKey', () => {
  it('upper-cases names so that they compare case-insensitively', () => {
    expect(nameKey('Node-1.example.com')).toBe('NODE-1.EXAMPLE.COM');
    expect(nameKey('my_rsc')).toBe('MY_RSC');
    expect(nameKey('MyRsc')).toBe(nameKey('myrsc'));
    expect(nameKey('ALREADY_UPPER')).toBe('ALREADY_UPPER');
  });

  it('does not change the name it is given', () => {
    const name = 'MixedCase';
    nameKey(name);
    expect(name).toBe('MixedCase');
  });
});

describe('fixed names', () => {
  it('are valid names of their kind', () => {
    expect(checkName('resource group', DEFAULT_RESOURCE_GROUP, 'f')).toBe('DfltRscGrp');
    expect(checkName('storage pool', DEFAULT_DISKLESS_STORAGE_POOL, 'f')).toBe('DfltDisklessStorPool');
    expect(checkName('net interface', DEFAULT_NET_INTERFACE, 'f')).toBe('default');
  });
});
