import { describe, expect, it } from '@jest/globals';
import type { ApplyReport, VolumeReport } from '../../../../src/common/protocol/satellite.js';
import { ReportCompactor } from '../../../../src/satellite/reconcile/report-delta.js';

const created = (resource: string, devicePath = `/dev/${resource}`): VolumeReport => ({ resource, volumeNumber: 0, state: 'CREATED', error: null, devicePath, usableKib: '65536', allocatedKib: '0' });
const failed = (resource: string): VolumeReport => ({ resource, volumeNumber: 0, state: 'FAILED', error: 'lvcreate: no space' });
const pass = (volumes: VolumeReport[], revision = 1): ApplyReport => ({ revision, converged: volumes.every((v) => v.state === 'CREATED'), pools: [{ name: 'p', error: null, totalKib: '100', freeKib: '50' }], volumes });
const names = (r: ApplyReport) => r.volumes.map((v) => v.resource);

/** Sends `report` through `c` and confirms it, as the agent does after the controller answered. */
function deliver(c: ReportCompactor, report: ApplyReport): ApplyReport {
  const out = c.compact(report);
  out.delivered();
  return out.report;
}

describe('ReportCompactor', () => {
  it('sends everything first, then only what changed; pools always', () => {
    const c = new ReportCompactor();
    const first = deliver(c, pass([created('a'), created('b')]));
    expect(first.partial).toBeUndefined();
    expect(names(first)).toEqual(['a', 'b']);
    const same = deliver(c, pass([created('a'), created('b')], 2));
    expect(same).toMatchObject({ partial: true, revision: 2, volumes: [], pools: [{ name: 'p' }] });
    const changed = deliver(c, pass([created('a', '/dev/other'), created('b'), created('c')], 3));
    expect(names(changed)).toEqual(['a', 'c']);
  });

  it('repeats failures in every report, and reports a recovered volume', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a'), failed('b')]));
    expect(names(deliver(c, pass([created('a'), failed('b')])))).toEqual(['b']);
    expect(names(deliver(c, pass([created('a'), failed('b')])))).toEqual(['b']);
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual(['b']);
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual([]);
  });

  it('repeats what was not confirmed', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a')]));
    const lost = c.compact(pass([created('a', '/dev/new')]));
    expect(names(lost.report)).toEqual(['a']);
    // never confirmed: the next report carries the change again
    expect(names(deliver(c, pass([created('a', '/dev/new')])))).toEqual(['a']);
    expect(names(deliver(c, pass([created('a', '/dev/new')])))).toEqual([]);
  });

  it('reports a volume a desired-state change named, even when its entry is the same (a record made again)', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a'), created('b')]));
    c.touch(['a/0']);
    const out = c.compact(pass([created('a'), created('b')]));
    expect(names(out.report)).toEqual(['a']);
    // Named again while that report was on its way: still owed after it is confirmed.
    c.touch(['a/0']);
    out.delivered();
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual(['a']);
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual([]);
  });

  it('still owes a volume named while a pass ran that began before the name (the pass did not see that change)', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a'), created('b')]));
    const seen = c.passStarted();
    c.touch(['a/0']); // a delta arrives while the pass runs
    const out = c.compact(pass([created('a'), created('b')]), seen);
    expect(names(out.report)).toEqual(['a']); // named: sent anyway
    out.delivered();
    // ...and owed again by the next pass, which is the first to see the change.
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual(['a']);
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual([]);
  });

  it('reports a volume that went and came back with the same entry', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a'), created('b')]));
    deliver(c, pass([created('b')]));
    expect(names(deliver(c, pass([created('a'), created('b')])))).toEqual(['a']);
  });

  it('is complete again after forget() (new connection, full desired state), also for a report put together before it', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a'), created('b')]));
    const inFlight = c.compact(pass([created('a'), created('b')]));
    expect(inFlight.report.partial).toBe(true);
    c.forget();
    inFlight.delivered(); // confirmed on the old connection: does not count for the new one
    const next = deliver(c, pass([created('a'), created('b')]));
    expect(next.partial).toBeUndefined();
    expect(names(next)).toEqual(['a', 'b']);
  });

  it('sends a fatal report as it is, and the report after it complete', () => {
    const c = new ReportCompactor();
    deliver(c, pass([created('a')]));
    const fatal: ApplyReport = { revision: 4, converged: false, pools: [], volumes: [], fatal: 'malformed desired state' };
    expect(deliver(c, fatal)).toEqual(fatal);
    expect(deliver(c, pass([created('a')])).partial).toBeUndefined();
  });
});
