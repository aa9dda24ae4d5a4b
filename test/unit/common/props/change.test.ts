import { describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../../src/common/api-rc.js';
import { applyPropsChange, initialProps, type PropsChange } from '../../../../src/common/props/change.js';
import type { Props } from '../../../../src/common/props/keys.js';

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

const PREFIX = 'input.props';

describe('applyPropsChange', () => {
  describe('without a change', () => {
    it.each([null, undefined, {}, { set: null, unset: null, unsetNamespaces: null }, { set: [], unset: [], unsetNamespaces: [] }])(
      'returns an equal copy for %p',
      (change) => {
        const current: Props = { 'Aux/a': '1' };
        const next = applyPropsChange('node', current, change, PREFIX);
        expect(next).toEqual({ 'Aux/a': '1' });
        expect(next).not.toBe(current);
      },
    );
  });

  describe('set', () => {
    it('adds new keys and overwrites existing ones', () => {
      const next = applyPropsChange(
        'node',
        { 'Aux/a': '1', 'Aux/b': '2' },
        { set: [{ key: 'Aux/b', value: '20' }, { key: 'Aux/c', value: '3' }, { key: 'AutoplaceTarget', value: 'false' }] },
        PREFIX,
      );
      expect(next).toEqual({ 'Aux/a': '1', 'Aux/b': '20', 'Aux/c': '3', AutoplaceTarget: 'false' });
    });

    it('refuses a key given twice in one request, naming the second occurrence', () => {
      const error = apiError(() =>
        applyPropsChange(
          'node',
          {},
          { set: [{ key: 'Aux/a', value: '1' }, { key: 'Aux/b', value: '2' }, { key: 'Aux/a', value: '3' }] },
          PREFIX,
        ),
      );
      expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[2]' });
      expect(error.message).toBe("The property 'Aux/a' is set twice in one request.");
      expect(error.correction).toBe('Give each key once.');
    });

    it('refuses a key given twice even with the same value', () => {
      const error = apiError(() =>
        applyPropsChange('node', {}, { set: [{ key: 'Aux/a', value: '1' }, { key: 'Aux/a', value: '1' }] }, PREFIX),
      );
      expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[1]' });
    });

    it('names the failing element of set, e.g. input.props.set[1]', () => {
      const unknownKey = apiError(() =>
        applyPropsChange('node', {}, { set: [{ key: 'Aux/a', value: '1' }, { key: 'StorDriver/LvmVg', value: 'vg0' }] }, PREFIX),
      );
      expect(unknownKey).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[1]' });
      expect(unknownKey.message).toBe("The property 'StorDriver/LvmVg' is not known for a node.");

      const badValue = apiError(() =>
        applyPropsChange('node', {}, { set: [{ key: 'Aux/a', value: '1' }, { key: 'AutoplaceTarget', value: 'no' }] }, PREFIX),
      );
      expect(badValue).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[1]' });
      expect(badValue.message).toBe("'no' is not a valid value for 'AutoplaceTarget': expected 'true' or 'false'.");
    });

    it('uses the owner to decide which keys are allowed', () => {
      expect(applyPropsChange('storagePool', {}, { set: [{ key: 'StorDriver/LvmVg', value: 'vg0' }] }, PREFIX)).toEqual({
        'StorDriver/LvmVg': 'vg0',
      });
      expect(apiError(() => applyPropsChange('resource', {}, { set: [{ key: 'StorDriver/LvmVg', value: 'vg0' }] }, PREFIX)).field).toBe(
        'input.props.set[0]',
      );
    });

    it('refuses reserved keys', () => {
      const error = apiError(() => applyPropsChange('controller', {}, { set: [{ key: 'Internal/secret', value: 'x' }] }, PREFIX));
      expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[0]' });
      expect(error.correction).toBe('Store your own data under Aux/ instead.');
    });

    it('builds the field from the given prefix', () => {
      const error = apiError(() =>
        applyPropsChange('volumeDefinition', {}, { set: [{ key: 'Foo', value: 'x' }] }, 'input.volumeDefinitions[3].props'),
      );
      expect(error.field).toBe('input.volumeDefinitions[3].props.set[0]');
    });
  });

  describe('unset', () => {
    it('removes single keys and ignores keys that are not set', () => {
      expect(
        applyPropsChange('node', { 'Aux/a': '1', 'Aux/b': '2', Site: 'x' }, { unset: ['Aux/a', 'Site', 'Aux/missing'] }, PREFIX),
      ).toEqual({ 'Aux/b': '2' });
    });

    it('names the failing element of unset', () => {
      const unknown = apiError(() => applyPropsChange('node', { 'Aux/a': '1' }, { unset: ['Aux/a', 'Foo'] }, PREFIX));
      expect(unknown).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unset[1]' });
      const reserved = apiError(() => applyPropsChange('node', {}, { unset: ['Internal/x'] }, PREFIX));
      expect(reserved).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unset[0]' });
      const malformed = apiError(() => applyPropsChange('node', {}, { unset: ['Aux/a', 'Aux/b', 'bad key'] }, PREFIX));
      expect(malformed).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unset[2]' });
    });
  });

  describe('unsetNamespaces', () => {
    const current: Props = {
      'Aux/site': 'a',
      'Aux/rack/row': '3',
      'Auxiliary/x': 'not in Aux/',
      AutoplaceTarget: 'true',
      'DrbdOptions/Net/protocol': 'C',
      'DrbdOptions/Net/max-buffers': '8000',
      'DrbdOptions/Disk/on-io-error': 'detach',
    };

    it('removes every key under the namespace, with or without a trailing slash', () => {
      const expected = {
        'Auxiliary/x': 'not in Aux/',
        AutoplaceTarget: 'true',
        'DrbdOptions/Net/protocol': 'C',
        'DrbdOptions/Net/max-buffers': '8000',
        'DrbdOptions/Disk/on-io-error': 'detach',
      };
      expect(applyPropsChange('node', current, { unsetNamespaces: ['Aux'] }, PREFIX)).toEqual(expected);
      expect(applyPropsChange('node', current, { unsetNamespaces: ['Aux/'] }, PREFIX)).toEqual(expected);
    });

    it('removes nested namespaces only below the given one', () => {
      expect(applyPropsChange('node', current, { unsetNamespaces: ['DrbdOptions/Net'] }, PREFIX)).toEqual({
        'Aux/site': 'a',
        'Aux/rack/row': '3',
        'Auxiliary/x': 'not in Aux/',
        AutoplaceTarget: 'true',
        'DrbdOptions/Disk/on-io-error': 'detach',
      });
      const { 'Aux/rack/row': _removed, ...rest } = current;
      expect(applyPropsChange('node', current, { unsetNamespaces: ['Aux/rack'] }, PREFIX)).toStrictEqual(rest);
    });

    it('names the failing element of unsetNamespaces', () => {
      const reserved = apiError(() => applyPropsChange('node', current, { unsetNamespaces: ['Aux', 'Internal'] }, PREFIX));
      expect(reserved).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unsetNamespaces[1]' });
      const unknown = apiError(() => applyPropsChange('node', current, { unsetNamespaces: ['Foo'] }, PREFIX));
      expect(unknown).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unsetNamespaces[0]' });
      const notForOwner = apiError(() => applyPropsChange('resource', {}, { unsetNamespaces: ['Aux', 'Autoplacer'] }, PREFIX));
      expect(notForOwner).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unsetNamespaces[1]' });
      const empty = apiError(() => applyPropsChange('node', current, { unsetNamespaces: [''] }, PREFIX));
      expect(empty).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.unsetNamespaces[0]' });
    });

    // BUG (src/common/props/change.ts): a namespace is validated as the key `${namespace}/x`, which only passes when a
    // namespace rule covers it. Namespaces that the owner accepts but that hold only exact keys or narrower
    // namespaces (DrbdOptions on a resource definition, StorDriver on a storage pool, FileSystem on a resource group)
    // are refused, and the error names the made-up key 'DrbdOptions/x' ("The property 'DrbdOptions/x' is not known").
    it('removes a namespace that holds only exact keys or narrower namespaces the owner accepts', () => {
      expect(
        applyPropsChange('resourceDefinition', { 'DrbdOptions/Net/protocol': 'C', 'Aux/a': '1' }, { unsetNamespaces: ['DrbdOptions'] }, PREFIX),
      ).toEqual({ 'Aux/a': '1' });
      expect(
        applyPropsChange('resourceGroup', { 'FileSystem/Type': 'xfs', 'FileSystem/MkfsParams': '-K' }, { unsetNamespaces: ['FileSystem'] }, PREFIX),
      ).toEqual({});
    });
  });

  describe('order: namespaces, then keys, then set', () => {
    it('sets a key after removing its namespace, so a request can replace a namespace', () => {
      expect(
        applyPropsChange(
          'node',
          { 'Aux/a': '1', 'Aux/b': '2', Site: 's' },
          { set: [{ key: 'Aux/c', value: '3' }], unsetNamespaces: ['Aux'] },
          PREFIX,
        ),
      ).toEqual({ 'Aux/c': '3', Site: 's' });
    });

    it('sets a key after unsetting it', () => {
      expect(
        applyPropsChange('node', { 'Aux/a': '1' }, { set: [{ key: 'Aux/a', value: '2' }], unset: ['Aux/a'] }, PREFIX),
      ).toEqual({ 'Aux/a': '2' });
    });

    it('applies all three kinds in one request', () => {
      expect(
        applyPropsChange(
          'node',
          { 'Aux/a': '1', 'Aux/b': '2', Site: 's', AutoplaceTarget: 'true' },
          { unsetNamespaces: ['Aux'], unset: ['Site', 'Aux/new'], set: [{ key: 'Aux/new', value: 'n' }, { key: 'Site', value: 't' }] },
          PREFIX,
        ),
      ).toEqual({ AutoplaceTarget: 'true', 'Aux/new': 'n', Site: 't' });
    });

    it('validates namespaces first, then keys, then values', () => {
      const change: PropsChange = { set: [{ key: 'Foo', value: 'x' }], unset: ['Bar'], unsetNamespaces: ['Baz'] };
      expect(apiError(() => applyPropsChange('node', {}, change, PREFIX)).field).toBe('input.props.unsetNamespaces[0]');
      expect(apiError(() => applyPropsChange('node', {}, { ...change, unsetNamespaces: [] }, PREFIX)).field).toBe(
        'input.props.unset[0]',
      );
      expect(apiError(() => applyPropsChange('node', {}, { ...change, unsetNamespaces: [], unset: [] }, PREFIX)).field).toBe(
        'input.props.set[0]',
      );
    });
  });

  describe('does not mutate its input', () => {
    it('leaves current and the change untouched on success', () => {
      const current: Props = { 'Aux/a': '1', 'Aux/b': '2', Site: 's' };
      const change = {
        set: [{ key: 'Aux/c', value: '3' }],
        unset: ['Site'],
        unsetNamespaces: ['Aux'],
      };
      const before = structuredClone({ current, change });
      const next = applyPropsChange('node', current, change, PREFIX);
      expect({ current, change }).toEqual(before);
      expect(next).toEqual({ 'Aux/c': '3' });
      next['Aux/d'] = '4';
      expect(current).toEqual(before.current);
    });

    it('leaves current untouched when a later element is refused', () => {
      const current: Props = { 'Aux/a': '1', Site: 's' };
      const before = { ...current };
      expect(() =>
        applyPropsChange('node', current, { unsetNamespaces: ['Aux'], unset: ['Site'], set: [{ key: 'Foo', value: 'x' }] }, PREFIX),
      ).toThrow(ApiError);
      expect(current).toEqual(before);
    });

    it('works on frozen input', () => {
      const current = Object.freeze({ 'Aux/a': '1' });
      const change = Object.freeze({ set: Object.freeze([Object.freeze({ key: 'Aux/b', value: '2' })]), unset: Object.freeze(['Aux/a']) });
      expect(applyPropsChange('node', current, change, PREFIX)).toEqual({ 'Aux/b': '2' });
    });
  });
});

describe('initialProps', () => {
  it('validates a complete initial map', () => {
    expect(
      initialProps('storagePool', [{ key: 'StorDriver/LvmVg', value: 'vg0' }, { key: 'Aux/tier', value: 'ssd' }], PREFIX),
    ).toEqual({ 'StorDriver/LvmVg': 'vg0', 'Aux/tier': 'ssd' });
  });

  it('returns an empty map for no props', () => {
    expect(initialProps('node', undefined, PREFIX)).toEqual({});
    expect(initialProps('node', null, PREFIX)).toEqual({});
    expect(initialProps('node', [], PREFIX)).toEqual({});
  });

  it('names the failing element as input.props.set[i]', () => {
    const error = apiError(() =>
      initialProps('storagePool', [{ key: 'StorDriver/LvmVg', value: 'vg0' }, { key: 'StorDriver/FileDir', value: 'relative' }], PREFIX),
    );
    expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[1]' });
  });

  it('refuses duplicate keys', () => {
    const error = apiError(() => initialProps('node', [{ key: 'Site', value: 'a' }, { key: 'Site', value: 'b' }], PREFIX));
    expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[1]' });
  });
});
