import { describe, expect, it } from '@jest/globals';
import type { DrbdStateReport } from '../../../../src/common/protocol/drbd.js';
import { parseDrbdStateReport } from '../../../../src/controller/drbd/report.js';

/**
 * A report as a satellite sends it (through JSON): two resources, the second with two connections so that paths
 * like connections[1].peerDevices[0] exist.
 */
function validReport(): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      backend: 'drbd-utils',
      full: false,
      resources: [
        {
          resource: 'db-logs',
          role: 'Secondary',
          suspended: false,
          volumes: [{ volumeNumber: 0, minor: 1002, diskState: 'UpToDate', client: false, quorum: true }],
          connections: [],
        },
        {
          resource: 'web-data',
          diskless: false,
          role: 'Primary',
          suspended: false,
          volumes: [
            { volumeNumber: 0, minor: 1000, diskState: 'UpToDate', client: false, quorum: true },
            { volumeNumber: 1, minor: null, diskState: 'Attaching', client: false, quorum: null },
          ],
          connections: [
            {
              peerNodeId: 1,
              peer: 'node-b',
              connectionState: 'Connected',
              peerRole: 'Secondary',
              peerDevices: [{ volumeNumber: 0, replicationState: 'Established', peerDiskState: 'UpToDate', donePercent: null }],
            },
            {
              peerNodeId: 2,
              peer: 'node-c',
              connectionState: 'Connected',
              peerRole: 'Secondary',
              peerDevices: [{ volumeNumber: 0, replicationState: 'SyncSource', peerDiskState: 'Inconsistent', donePercent: 37.5 }],
            },
          ],
        },
      ],
      removed: ['old-res'],
    }),
  ) as Record<string, unknown>;
}

/**
 * validReport() with the values at the given paths (dot/bracket paths below the report) replaced, or deleted for
 * `undefined`.
 */
function withValue(...edits: [path: string, value: unknown][] | [path: string, value: unknown]): Record<string, unknown> {
  const report = validReport();
  const list = (typeof edits[0] === 'string' ? [edits] : edits) as [string, unknown][];
  for (const [path, value] of list) {
    const keys = path.match(/[^.[\]]+/g) ?? [];
    let target: Record<string, unknown> = report;
    for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
    const last = keys[keys.length - 1]!;
    if (!(last in target)) throw new Error(`test bug: ${path} does not exist in the valid report`);
    if (value === undefined) delete target[last];
    else target[last] = value;
  }
  return report;
}

function refusal(value: unknown): string {
  try {
    parseDrbdStateReport(value);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the report was accepted');
}

describe('parseDrbdStateReport', () => {
  it('accepts a valid report and returns it field for field', () => {
    const report = parseDrbdStateReport(validReport());
    expect(report).toEqual(validReport() as unknown as DrbdStateReport);
    // `diskless` stays absent when the satellite did not say, rather than becoming false.
    expect('diskless' in report.resources[0]!).toBe(false);
    expect(report.resources[1]!.diskless).toBe(false);
  });

  it('accepts the emulated backend, a full report, and state names this version does not know (kept verbatim)', () => {
    const value = withValue('resources[1].connections[0].peerDevices[0].replicationState', 'SomeFutureState');
    value.backend = 'emulated';
    value.full = true;
    const report = parseDrbdStateReport(value);
    expect([report.backend, report.full, report.resources[1]!.connections[0]!.peerDevices[0]!.replicationState]).toEqual(['emulated', true, 'SomeFutureState']);
  });

  it('reads a missing quorum or donePercent as null', () => {
    const value = withValue(['resources[1].volumes[0].quorum', undefined], ['resources[1].connections[1].peerDevices[0].donePercent', undefined]);
    const report = parseDrbdStateReport(value);
    expect(report.resources[1]!.volumes[0]!.quorum).toBeNull();
    expect(report.resources[1]!.connections[1]!.peerDevices[0]!.donePercent).toBeNull();
  });

  it('accepts donePercent at the ends of its range', () => {
    for (const done of [0, 100]) {
      const report = parseDrbdStateReport(withValue('resources[1].connections[1].peerDevices[0].donePercent', done));
      expect(report.resources[1]!.connections[1]!.peerDevices[0]!.donePercent).toBe(done);
    }
  });

  it('refuses a report that is not an object', () => {
    for (const value of [null, 'report', 42, [validReport()], undefined]) {
      expect(refusal(value)).toBe('report: expected an object');
    }
  });

  const cases: [path: string, value: unknown, message: string][] = [
    ['backend', 'lvm', 'report.backend: expected one of drbd-utils, emulated'],
    ['backend', undefined, 'report.backend: expected one of drbd-utils, emulated'],
    ['full', 'yes', 'report.full: expected true or false'],
    ['full', undefined, 'report.full: expected true or false'],
    ['resources', {}, 'report.resources: expected an array'],
    ['removed', 'old-res', 'report.removed: expected an array'],
    ['removed[0]', 7, 'report.removed[0]: expected a string'],
    ['resources[1]', 'web-data', 'report.resources[1]: expected an object'],
    ['resources[0].resource', undefined, 'report.resources[0].resource: expected a string'],
    ['resources[1].diskless', null, 'report.resources[1].diskless: expected true or false'],
    ['resources[1].diskless', 'no', 'report.resources[1].diskless: expected true or false'],
    ['resources[1].role', 1, 'report.resources[1].role: expected a string'],
    ['resources[1].suspended', 'no', 'report.resources[1].suspended: expected true or false'],
    ['resources[1].volumes', null, 'report.resources[1].volumes: expected an array'],
    ['resources[1].volumes[1]', [], 'report.resources[1].volumes[1]: expected an object'],
    ['resources[1].volumes[1].volumeNumber', -1, 'report.resources[1].volumes[1].volumeNumber: expected a non-negative integer'],
    ['resources[1].volumes[1].volumeNumber', 0.5, 'report.resources[1].volumes[1].volumeNumber: expected a non-negative integer'],
    ['resources[1].volumes[1].volumeNumber', '1', 'report.resources[1].volumes[1].volumeNumber: expected a non-negative integer'],
    ['resources[1].volumes[1].minor', undefined, 'report.resources[1].volumes[1].minor: expected a non-negative integer'],
    ['resources[1].volumes[0].minor', 2 ** 53, 'report.resources[1].volumes[0].minor: expected a non-negative integer'],
    ['resources[1].volumes[0].diskState', null, 'report.resources[1].volumes[0].diskState: expected a string'],
    ['resources[1].volumes[0].client', 'no', 'report.resources[1].volumes[0].client: expected true or false'],
    ['resources[1].volumes[0].quorum', 'yes', 'report.resources[1].volumes[0].quorum: expected true or false'],
    ['resources[1].connections', undefined, 'report.resources[1].connections: expected an array'],
    ['resources[1].connections[1]', null, 'report.resources[1].connections[1]: expected an object'],
    ['resources[1].connections[1].peerNodeId', '2', 'report.resources[1].connections[1].peerNodeId: expected a non-negative integer'],
    ['resources[1].connections[1].peer', null, 'report.resources[1].connections[1].peer: expected a string'],
    ['resources[1].connections[1].connectionState', undefined, 'report.resources[1].connections[1].connectionState: expected a string'],
    ['resources[1].connections[1].peerRole', false, 'report.resources[1].connections[1].peerRole: expected a string'],
    ['resources[1].connections[1].peerDevices', {}, 'report.resources[1].connections[1].peerDevices: expected an array'],
    ['resources[1].connections[1].peerDevices[0]', 'x', 'report.resources[1].connections[1].peerDevices[0]: expected an object'],
    ['resources[1].connections[1].peerDevices[0].volumeNumber', null, 'report.resources[1].connections[1].peerDevices[0].volumeNumber: expected a non-negative integer'],
    ['resources[1].connections[1].peerDevices[0].replicationState', 3, 'report.resources[1].connections[1].peerDevices[0].replicationState: expected a string'],
    ['resources[1].connections[1].peerDevices[0].peerDiskState', undefined, 'report.resources[1].connections[1].peerDevices[0].peerDiskState: expected a string'],
    ['resources[1].connections[1].peerDevices[0].donePercent', 100.01, 'report.resources[1].connections[1].peerDevices[0].donePercent: expected a number from 0 to 100 or null'],
    ['resources[1].connections[1].peerDevices[0].donePercent', -1, 'report.resources[1].connections[1].peerDevices[0].donePercent: expected a number from 0 to 100 or null'],
    ['resources[1].connections[1].peerDevices[0].donePercent', '37.50', 'report.resources[1].connections[1].peerDevices[0].donePercent: expected a number from 0 to 100 or null'],
    ['resources[1].connections[1].peerDevices[0].donePercent', Number.NaN, 'report.resources[1].connections[1].peerDevices[0].donePercent: expected a number from 0 to 100 or null'],
  ];

  it.each(cases)('refuses %s = %p, naming the field', (path, value, message) => {
    expect(refusal(withValue(path, value))).toBe(message);
  });
});
