import { describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../../src/common/api-rc.js';
import {
  acceptedKeys,
  checkProp,
  checkPropKey,
  describeOwner,
  KEY_RULES,
  PROPS_OWNERS,
  type PropsOwner,
} from '../../../../src/common/props/keys.js';

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

const FIELD = 'input.props["X"]';

describe('KEY_RULES', () => {
  it('names only known owners and no key twice', () => {
    for (const rule of KEY_RULES) {
      expect(rule.owners.length).toBeGreaterThan(0);
      for (const owner of rule.owners) expect(PROPS_OWNERS).toContain(owner);
    }
    const keys = KEY_RULES.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('checkPropKey', () => {
  describe('Aux/ user labels', () => {
    it.each(PROPS_OWNERS)('are accepted on a %s', (owner) => {
      expect(() => checkPropKey(owner, 'Aux/site', FIELD)).not.toThrow();
      expect(() => checkPropKey(owner, 'Aux/rack.row-3:b_1', FIELD)).not.toThrow();
      expect(() => checkPropKey(owner, 'Aux/a/b/c', FIELD)).not.toThrow();
      expect(() => checkProp(owner, 'Aux/empty', '', FIELD)).not.toThrow();
    });

    it('need a name after the namespace', () => {
      for (const key of ['Aux/', 'Aux']) {
        expect(apiError(() => checkPropKey('node', key, FIELD))).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
      }
    });

    it('are case-sensitive, like every key', () => {
      expect(apiError(() => checkPropKey('node', 'aux/site', FIELD)).code).toBe(ErrorCode.INVALID_PROPERTY);
      expect(apiError(() => checkPropKey('node', 'autoplaceTarget', FIELD)).code).toBe(ErrorCode.INVALID_PROPERTY);
    });
  });

  describe('keys that belong to some owners only', () => {
    it('accepts StorDriver/LvmVg on a storage pool', () => {
      expect(() => checkPropKey('storagePool', 'StorDriver/LvmVg', FIELD)).not.toThrow();
    });

    it.each(PROPS_OWNERS.filter((o) => o !== 'storagePool'))('refuses StorDriver/LvmVg on a %s', (owner) => {
      const error = apiError(() => checkPropKey(owner, 'StorDriver/LvmVg', FIELD));
      expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
      expect(error.message).toBe(`The property 'StorDriver/LvmVg' is not known for a ${describeOwner(owner)}.`);
      expect(error.correction).toBe(`Use one of: ${acceptedKeys(owner).join(', ')}. For your own labels use Aux/<name>.`);
      expect(error.correction).not.toContain('StorDriver/LvmVg');
    });

    it.each<[string, PropsOwner, PropsOwner]>([
      ['AutoplaceTarget', 'node', 'resource'],
      ['Site', 'node', 'storagePool'],
      ['TcpPortAutoRange', 'controller', 'resourceDefinition'],
      ['MinorNrAutoRange', 'controller', 'node'],
      ['MaxOversubscriptionRatio', 'storagePool', 'resourceGroup'],
      ['FileSystem/Type', 'volumeDefinition', 'volume'],
      ['DrbdOptions/Net/protocol', 'resourceDefinition', 'storagePool'],
      ['DrbdOptions/auto-add-quorum-tiebreaker', 'resourceGroup', 'storagePool'],
      ['Autoplacer/Weights/MaxFreeSpace', 'resourceGroup', 'node'],
      ['StorPoolName', 'resource', 'volume'],
    ])('accepts %s on a %s but not on a %s', (key, accepted, refused) => {
      expect(() => checkPropKey(accepted, key, FIELD)).not.toThrow();
      expect(apiError(() => checkPropKey(refused, key, FIELD))).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
    });

    it.each(['DrbdOptions/Resource/quorum', 'DrbdOptions/Disk/on-io-error', 'DrbdOptions/PeerDevice/c-max-rate', 'DrbdOptions/Handlers/split-brain'])(
      'accepts keys in the DRBD namespace %s on DRBD objects',
      (key) => {
        expect(() => checkPropKey('resourceDefinition', key, FIELD)).not.toThrow();
        expect(() => checkPropKey('volume', key, FIELD)).not.toThrow();
      },
    );
  });

  describe('unknown keys', () => {
    it.each(['Foo', 'StorDriver/Unknown', 'AutoPlaceTarget', 'DrbdOptions/Nett/protocol', 'DrbdOptions/Net'])(
      'refuses %s with INVALID_PROPERTY and a correction naming the accepted keys',
      (key) => {
        const error = apiError(() => checkPropKey('node', key, 'input.props.set[0]'));
        expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: 'input.props.set[0]' });
        expect(error.message).toBe(`The property '${key}' is not known for a node.`);
        expect(error.correction).toBe(
          'Use one of: Aux/*, AutoplaceTarget, Site, PrefNic, TcpPortAutoRange, DrbdOptions/Resource/*, DrbdOptions/Net/*, ' +
            'DrbdOptions/Disk/*, DrbdOptions/PeerDevice/*, DrbdOptions/Handlers/*, DrbdOptions/auto-add-quorum-tiebreaker, ' +
            'DrbdOptions/auto-diskful, DrbdOptions/auto-verify-algo-disable. For your own labels use Aux/<name>.',
        );
      },
    );

    it('describes the owner in words', () => {
      expect(apiError(() => checkPropKey('volumeDefinition', 'Foo', FIELD)).message).toBe(
        "The property 'Foo' is not known for a volume definition.",
      );
    });
  });

  describe('reserved namespaces', () => {
    it.each(PROPS_OWNERS)('refuses Internal/, Satellite/ and Linstor/ keys on a %s', (owner) => {
      for (const key of ['Internal/x', 'Internal/a/b', 'Satellite/x', 'Linstor/x']) {
        const error = apiError(() => checkPropKey(owner, key, FIELD));
        expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
        expect(error.message).toBe(`'${key}' is in a namespace reserved for blockplane itself.`);
        expect(error.correction).toBe('Store your own data under Aux/ instead.');
      }
    });
  });

  describe('key shape', () => {
    it.each(['', '/Aux/x', 'Aux//x', 'Aux/x/', 'Aux/a b', 'Aux/é', '-Aux/x', '.Aux/x', 'Aux/x=y', 'Aux\\x'])(
      'refuses the malformed key %j',
      (key) => {
        const error = apiError(() => checkPropKey('node', key, FIELD));
        expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
        expect(error.message).toBe(`'${key}' is not a valid property key.`);
        expect(error.correction).toContain('1-256 characters');
      },
    );

    it('accepts keys of up to 256 characters', () => {
      const key = `Aux/${'k'.repeat(252)}`;
      expect(key).toHaveLength(256);
      expect(() => checkPropKey('node', key, FIELD)).not.toThrow();
      expect(apiError(() => checkPropKey('node', `${key}k`, FIELD)).message).toBe(`'${key}k' is not a valid property key.`);
    });
  });
});

describe('checkProp values', () => {
  const valid = (owner: PropsOwner, key: string, value: string) => () => checkProp(owner, key, value, FIELD);

  it.each<[PropsOwner, string, string[], string[]]>([
    ['node', 'AutoplaceTarget', ['true', 'false'], ['yes', 'True', 'FALSE', '1', '', ' true']],
    ['controller', 'TcpPortAutoRange', ['7000-7999', '1-65535', '7000-7000'], ['7999-7000', '0-100', '1-65536', '7000', '7000-', 'a-b', ' 7000-7999', '7000:7999']],
    ['controller', 'MinorNrAutoRange', ['1000-49999', '0-1048575', '5-5'], ['0-1048576', '49999-1000', '1000', 'x']],
    ['controller', 'PeerSlotsNewResource', ['1', '7', '31'], ['0', '32', '1.5', '-1', '']],
    ['storagePool', 'MaxOversubscriptionRatio', ['1', '1.5', '20', '0.5'], ['0', '0.0', '-1', '.5', '1e3', 'abc', '']],
    ['controller', 'StorDriver/SizesCacheTime', ['0', '60', '0.5'], ['-1', 'x', '']],
    ['storagePool', 'StorDriver/FileDir', ['/var/lib/pool', '/'], ['var/lib/pool', './pool', '']],
    ['storagePool', 'StorDriver/LvmVg', ['vg0'], ['']],
    ['node', 'Site', ['a'], ['']],
    ['resourceGroup', 'FileSystem/Type', ['ext4', 'xfs'], ['btrfs', 'EXT4', '']],
    ['resourceDefinition', 'DrbdOptions/Net/protocol', ['C'], ['']],
    ['resourceDefinition', 'DrbdOptions/auto-add-quorum-tiebreaker', ['true', 'false'], ['yes']],
    ['controller', 'Autoplacer/Weights/MaxFreeSpace', ['0', '1', '2.5'], ['-1', 'abc', '']],
  ])('on a %s, %s accepts %j and refuses %j', (owner, key, good, bad) => {
    for (const value of good) expect(valid(owner, key, value)).not.toThrow();
    for (const value of bad) {
      const error = apiError(valid(owner, key, value));
      expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
      expect(error.message).toMatch(new RegExp(`^'.*' is not a valid value for '${key}': .+\\.$`));
      expect(error.correction).toBe(`Set '${key}' to a valid value.`);
    }
  });

  it('explains what a value should be', () => {
    expect(apiError(valid('node', 'AutoplaceTarget', 'yes')).message).toBe(
      "'yes' is not a valid value for 'AutoplaceTarget': expected 'true' or 'false'.",
    );
    expect(apiError(valid('controller', 'TcpPortAutoRange', '7000')).message).toBe(
      "'7000' is not a valid value for 'TcpPortAutoRange': expected a range like '7000-7999'.",
    );
    expect(apiError(valid('controller', 'TcpPortAutoRange', '8000-7000')).message).toBe(
      "'8000-7000' is not a valid value for 'TcpPortAutoRange': expected 1 <= low <= high <= 65535.",
    );
    expect(apiError(valid('resourceGroup', 'FileSystem/Type', 'btrfs')).message).toBe(
      "'btrfs' is not a valid value for 'FileSystem/Type': expected one of ext4, xfs.",
    );
  });

  it('accepts any value for keys without a check', () => {
    expect(valid('storagePool', 'StorDriver/LvcreateOptions', '')).not.toThrow();
    expect(valid('storagePool', 'Autoplacer/MaxThroughput', 'anything at all')).not.toThrow();
    expect(valid('node', 'Aux/note', 'ünïcödé = fine')).not.toThrow();
  });

  it('limits values to 4096 characters', () => {
    expect(valid('node', 'Aux/x', 'v'.repeat(4096))).not.toThrow();
    const error = apiError(valid('node', 'Aux/x', 'v'.repeat(4097)));
    expect(error).toMatchObject({ code: ErrorCode.INVALID_PROPERTY, field: FIELD });
    expect(error.message).toBe("The value of 'Aux/x' is longer than 4096 characters.");
  });

  it('checks the key before the value', () => {
    expect(apiError(valid('resource', 'AutoplaceTarget', 'yes')).message).toBe(
      "The property 'AutoplaceTarget' is not known for a resource.",
    );
    expect(apiError(valid('node', 'Internal/x', 'v'.repeat(5000))).message).toContain('reserved');
  });

  // BUG (src/common/props/keys.ts ruleFor): for namespaces, the owner filter runs before the longest match, so a key
  // in a namespace that excludes the owner falls back to a shorter namespace that includes it. Autoplacer/Weights/ is
  // for controller and resourceGroup only, yet on a storage pool 'Autoplacer/Weights/MaxFreeSpace' is accepted through
  // 'Autoplacer/' without its value check. Exact keys do not fall back like this (see StorDriver/LvmVg on a node).
  it('refuses Autoplacer/Weights/* on a storage pool, where the weights do not apply', () => {
    expect(apiError(valid('storagePool', 'Autoplacer/Weights/MaxFreeSpace', 'abc'))).toMatchObject({
      code: ErrorCode.INVALID_PROPERTY,
      field: FIELD,
    });
  });
});

describe('acceptedKeys', () => {
  it('lists exact keys and namespaces (with *) that the owner accepts, in rule order', () => {
    expect(acceptedKeys('node')).toEqual([
      'Aux/*',
      'AutoplaceTarget',
      'Site',
      'PrefNic',
      'TcpPortAutoRange',
      'DrbdOptions/Resource/*',
      'DrbdOptions/Net/*',
      'DrbdOptions/Disk/*',
      'DrbdOptions/PeerDevice/*',
      'DrbdOptions/Handlers/*',
      'DrbdOptions/auto-add-quorum-tiebreaker',
      'DrbdOptions/auto-diskful',
      'DrbdOptions/auto-verify-algo-disable',
    ]);
  });

  it.each(PROPS_OWNERS)('starts with Aux/* and lists only keys a %s accepts', (owner) => {
    const keys = acceptedKeys(owner);
    expect(keys[0]).toBe('Aux/*');
    for (const key of keys) {
      const example = key.endsWith('*') ? `${key.slice(0, -1)}example` : key;
      expect(() => checkPropKey(owner, example, FIELD)).not.toThrow();
    }
  });

  it('gives storage pool keys only to storage pools', () => {
    expect(acceptedKeys('storagePool')).toEqual(expect.arrayContaining(['StorDriver/LvmVg', 'StorDriver/FileDir', 'Autoplacer/*']));
    expect(acceptedKeys('resource')).not.toContain('StorDriver/LvmVg');
  });
});

describe('describeOwner', () => {
  it.each<[PropsOwner, string]>([
    ['controller', 'controller'],
    ['node', 'node'],
    ['storagePool', 'storage pool'],
    ['resourceGroup', 'resource group'],
    ['volumeGroup', 'volume group'],
    ['resourceDefinition', 'resource definition'],
    ['volumeDefinition', 'volume definition'],
    ['resource', 'resource'],
    ['volume', 'volume'],
  ])('describes %s as %j', (owner, words) => {
    expect(describeOwner(owner)).toBe(words);
  });
});
