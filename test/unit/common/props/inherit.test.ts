import { describe, expect, it } from '@jest/globals';
import { resolveProps, type PropsLayer } from '../../../../src/common/props/inherit.js';

describe('resolveProps', () => {
  it('returns nothing for no layers or empty layers', () => {
    expect(resolveProps([])).toEqual([]);
    expect(resolveProps([{ origin: 'controller', props: {} }, { origin: 'resource', props: {} }])).toEqual([]);
  });

  it('takes a key set on one layer from that layer, with nothing shadowed', () => {
    expect(resolveProps([{ origin: 'resourceGroup', props: { 'Aux/a': '1' } }])).toEqual([
      { key: 'Aux/a', value: '1', origin: 'resourceGroup', shadowed: [] },
    ]);
  });

  it('lets a higher layer win and lists the values it hides, highest first', () => {
    const layers: PropsLayer[] = [
      { origin: 'controller', props: { 'DrbdOptions/Net/protocol': 'A' } },
      { origin: 'resourceGroup', props: { 'DrbdOptions/Net/protocol': 'B' } },
      { origin: 'resourceDefinition', props: { 'DrbdOptions/Net/protocol': 'C' } },
    ];
    expect(resolveProps(layers)).toEqual([
      {
        key: 'DrbdOptions/Net/protocol',
        value: 'C',
        origin: 'resourceDefinition',
        shadowed: [
          { origin: 'resourceGroup', value: 'B' },
          { origin: 'controller', value: 'A' },
        ],
      },
    ]);
  });

  it('resolves each key on its own across the whole volume chain', () => {
    const layers: PropsLayer[] = [
      { origin: 'controller', props: { 'Aux/all': 'c', 'Aux/ctrl': 'c', 'Aux/odd': 'c' } },
      { origin: 'resourceGroup', props: { 'Aux/all': 'rg' } },
      { origin: 'volumeGroup', props: { 'Aux/all': 'vg', 'Aux/vg': 'vg' } },
      { origin: 'resourceDefinition', props: { 'Aux/all': 'rd', 'Aux/odd': 'rd' } },
      { origin: 'volumeDefinition', props: { 'Aux/all': 'vd', 'Aux/vg': 'vd' } },
      { origin: 'resource', props: { 'Aux/all': 'r', 'Aux/odd': 'r' } },
      { origin: 'volume', props: { 'Aux/all': 'v' } },
    ];
    expect(resolveProps(layers)).toEqual([
      {
        key: 'Aux/all',
        value: 'v',
        origin: 'volume',
        shadowed: [
          { origin: 'resource', value: 'r' },
          { origin: 'volumeDefinition', value: 'vd' },
          { origin: 'resourceDefinition', value: 'rd' },
          { origin: 'volumeGroup', value: 'vg' },
          { origin: 'resourceGroup', value: 'rg' },
          { origin: 'controller', value: 'c' },
        ],
      },
      { key: 'Aux/ctrl', value: 'c', origin: 'controller', shadowed: [] },
      {
        key: 'Aux/odd',
        value: 'r',
        origin: 'resource',
        shadowed: [
          { origin: 'resourceDefinition', value: 'rd' },
          { origin: 'controller', value: 'c' },
        ],
      },
      { key: 'Aux/vg', value: 'vd', origin: 'volumeDefinition', shadowed: [{ origin: 'volumeGroup', value: 'vg' }] },
    ]);
  });

  it('keeps a shadowed value even when it equals the winning value', () => {
    expect(
      resolveProps([
        { origin: 'controller', props: { AutoplaceTarget: 'true' } },
        { origin: 'resource', props: { AutoplaceTarget: 'true' } },
      ]),
    ).toEqual([{ key: 'AutoplaceTarget', value: 'true', origin: 'resource', shadowed: [{ origin: 'controller', value: 'true' }] }]);
  });

  it('takes priority from the order of the layers, lowest first', () => {
    const [prop] = resolveProps([
      { origin: 'resource', props: { 'Aux/a': 'low' } },
      { origin: 'controller', props: { 'Aux/a': 'high' } },
    ]);
    expect(prop).toEqual({ key: 'Aux/a', value: 'high', origin: 'controller', shadowed: [{ origin: 'resource', value: 'low' }] });
  });

  it('sorts the result by key, whatever the order of layers and keys', () => {
    const result = resolveProps([
      { origin: 'controller', props: { 'Aux/z': '1', TcpPortAutoRange: '7000-7999', 'Aux/b': '1' } },
      { origin: 'resourceGroup', props: { 'DrbdOptions/Net/protocol': 'C', 'Aux/a': '1' } },
      { origin: 'resource', props: { AutoplaceTarget: 'false', 'Aux/b': '2' } },
    ]);
    expect(result.map((p) => p.key)).toEqual([
      'AutoplaceTarget',
      'Aux/a',
      'Aux/b',
      'Aux/z',
      'DrbdOptions/Net/protocol',
      'TcpPortAutoRange',
    ]);
  });

  it('does not modify its input, and gives each result its own shadowed list', () => {
    const layers: PropsLayer[] = [
      { origin: 'controller', props: { 'Aux/a': '1', 'Aux/b': '1' } },
      { origin: 'resourceGroup', props: { 'Aux/a': '2', 'Aux/b': '2' } },
      { origin: 'resource', props: { 'Aux/a': '3' } },
    ];
    const before = structuredClone(layers);
    const result = resolveProps(layers);
    expect(layers).toEqual(before);
    const [a, b] = result;
    expect(a?.shadowed).toEqual([
      { origin: 'resourceGroup', value: '2' },
      { origin: 'controller', value: '1' },
    ]);
    expect(b?.shadowed).toEqual([{ origin: 'controller', value: '1' }]);
    a?.shadowed.push({ origin: 'volume', value: 'x' });
    expect(b?.shadowed).toHaveLength(1);
    expect(resolveProps(layers)[0]?.shadowed).toHaveLength(2);
  });
});
