import { describe, expect, it } from '@jest/globals';
import {
  describeShortfall,
  estimateCapacity,
  isThin,
  minThinFreeSpace,
  type CapacityEstimate,
  type CapacityPool,
} from '../../../../src/controller/autoplacer/capacity.js';
import { GiB, MiB, TiB } from './cluster.js';

const thinPool = (over: Partial<CapacityPool> = {}): CapacityPool => ({
  providerKind: 'LVM_THIN',
  props: {},
  totalKib: 100n * GiB,
  freeKib: 40n * GiB,
  reservedKib: 0n,
  ...over,
});

function estimate(pool: CapacityPool, controller = {}): CapacityEstimate {
  const e = estimateCapacity(pool, controller);
  if ('invalid' in e) throw new Error(e.invalid);
  return e;
}

describe('estimateCapacity (linstor-facts 1.3)', () => {
  it('thin pools: min(free x 20, total x 20 - reserved) with the default ratio', () => {
    // free-based 800 GiB, total-based 2000 - 1500 = 500 GiB: the total bound wins
    const e = estimate(thinPool({ reservedKib: 1500n * GiB }));
    expect(e).toMatchObject({ thin: true, freeRatio: '20', totalRatio: '20', freeBasedKib: 800n * GiB, totalBasedKib: 500n * GiB, usableKib: 500n * GiB });
    // with little reserved the free bound wins
    expect(estimate(thinPool({ freeKib: 1n * GiB })).usableKib).toBe(20n * GiB);
  });

  it('thick pools are never oversubscribed, whatever the ratio properties say', () => {
    const props = { MaxOversubscriptionRatio: '10', MaxFreeCapacityOversubscriptionRatio: '10' };
    const e = estimate({ ...thinPool({ props, reservedKib: 70n * GiB }), providerKind: 'LVM' }, { MaxOversubscriptionRatio: '5' });
    expect(e).toMatchObject({ thin: false, freeRatio: '1', totalRatio: '1', freeBasedKib: 40n * GiB, totalBasedKib: 30n * GiB, usableKib: 30n * GiB });
  });

  it.each([
    ['pool specific ratio beats everything', { MaxFreeCapacityOversubscriptionRatio: '3', MaxOversubscriptionRatio: '2' }, { MaxFreeCapacityOversubscriptionRatio: '7' }, '3'],
    ['pool general ratio beats the controller', { MaxOversubscriptionRatio: '2' }, { MaxFreeCapacityOversubscriptionRatio: '7' }, '2'],
    ['controller specific ratio beats controller general', {}, { MaxFreeCapacityOversubscriptionRatio: '7', MaxOversubscriptionRatio: '4' }, '7'],
    ['controller general ratio', {}, { MaxOversubscriptionRatio: '4' }, '4'],
    ['default 20', {}, {}, '20'],
  ])('free ratio lookup: %s', (_what, poolProps, ctrlProps, ratio) => {
    expect(estimate(thinPool({ props: poolProps }), ctrlProps).freeRatio).toBe(ratio);
  });

  it('free and total ratios are looked up separately', () => {
    const e = estimate(thinPool({ props: { MaxTotalCapacityOversubscriptionRatio: '1.5' }, reservedKib: 100n * GiB }), { MaxFreeCapacityOversubscriptionRatio: '2' });
    expect(e).toMatchObject({ freeRatio: '2', totalRatio: '1.5', freeBasedKib: 80n * GiB, totalBasedKib: 50n * GiB, usableKib: 50n * GiB });
  });

  it('multiplies by decimal ratios exactly (bigint arithmetic, no float rounding)', () => {
    const huge = 3n * 1024n ** 5n + 7n; // 3 EiB + 7 KiB: beyond 2^53 KiB
    const e = estimate(thinPool({ freeKib: huge, totalKib: huge, props: { MaxOversubscriptionRatio: '1.25' } }));
    expect(e.freeBasedKib).toBe((huge * 125n) / 100n);
  });

  it.each(['0', '-1', 'abc', '1e3', ''])('refuses the ratio %j with a message naming the property and where it is set', (value) => {
    const e = estimateCapacity(thinPool({ props: { MaxOversubscriptionRatio: value } }), {});
    expect(e).toEqual({ invalid: `MaxOversubscriptionRatio='${value}' on pool is not a positive number` });
  });

  it('knows which providers are thin', () => {
    expect(['LVM_THIN', 'ZFS_THIN', 'FILE_THIN'].every((k) => isThin(k as never))).toBe(true);
    expect(['LVM', 'ZFS', 'FILE', 'DISKLESS'].some((k) => isThin(k as never))).toBe(false);
  });
});

describe('describeShortfall', () => {
  it('spells out both bounds for a thin pool', () => {
    const e = estimate(thinPool({ freeKib: 512n * MiB, totalKib: 100n * GiB, reservedKib: 1950n * GiB }));
    expect(describeShortfall(e, 20n * GiB)).toBe(
      'pool thin: 10 GiB free with oversubscription, 20 GiB needed (free 512 MiB × 20 = 10 GiB, total 100 GiB × 20 − 1.9 TiB reserved = 50 GiB)',
    );
  });

  it('is short for a thick pool and never shows a negative usable size', () => {
    const e = estimate({ ...thinPool({ freeKib: 9n * GiB, reservedKib: 120n * GiB }), providerKind: 'ZFS' });
    expect(describeShortfall(e, 10n * GiB)).toBe('pool thick: 0 KiB free, 10 GiB needed (free 9 GiB, total 100 GiB − 120 GiB reserved = -20 GiB)');
  });
});

describe('minThinFreeSpace', () => {
  const layers = (pool = {}, rd = {}, node = {}, ctrl = {}) => [
    { origin: 'pool', props: pool },
    { origin: 'resource definition', props: rd },
    { origin: 'node', props: node },
    { origin: 'controller', props: ctrl },
  ];

  it('defaults to 10% of the total capacity, rounded up', () => {
    expect(minThinFreeSpace(100n * GiB, layers())).toEqual({ minKib: 10n * GiB, describe: '10% of 100 GiB (default)' });
    expect(minThinFreeSpace(15n, layers())).toMatchObject({ minKib: 2n });
  });

  it('takes percentages and absolute sizes from the first layer that sets it', () => {
    const key = 'Autoplacer/MinThinFreeSpace';
    expect(minThinFreeSpace(1n * TiB, layers({}, { [key]: '2.5%' }, {}, { [key]: '50%' }))).toEqual({
      minKib: 26843546n, // 2.5% of 1073741824 KiB = 26843545.6, rounded up
      describe: '2.5% of 1 TiB (Autoplacer/MinThinFreeSpace on resource definition)',
    });
    expect(minThinFreeSpace(1n * TiB, layers({ [key]: '5GiB' }, { [key]: '50%' }))).toEqual({
      minKib: 5n * GiB,
      describe: '5 GiB (Autoplacer/MinThinFreeSpace on pool)',
    });
    expect(minThinFreeSpace(1n * TiB, layers({}, {}, {}, { [key]: '1048576' }))).toMatchObject({ minKib: 1n * GiB });
  });

  it('reports a value that is neither form', () => {
    expect(minThinFreeSpace(1n * TiB, layers({}, {}, { 'Autoplacer/MinThinFreeSpace': 'lots' }))).toEqual({
      invalid: "Autoplacer/MinThinFreeSpace='lots' (Autoplacer/MinThinFreeSpace on node) is neither a percentage like '10%' nor a size like '5GiB'",
    });
  });
});
