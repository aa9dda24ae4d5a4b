import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { DrbdResourceState } from '../../../src/common/protocol/drbd.js';
import { startTestController, type TestController } from '../../support/controller.js';
import { DATABASE_KINDS } from '../../support/databases.js';

/**
 * Shared execution of identical subscriptions (src/graph/shared-subscriptions.ts): subscribers of the same
 * changes-only document are one group with one execution per event; anything owed its own snapshot is not shared.
 */
describe.each(DATABASE_KINDS)('shared subscriptions (%s)', (kind) => {
  let t: TestController;
  const clients: Client[] = [];
  const CHANGES = 'subscription { drbdState(changesOnly: true) { resource node health } }';

  async function until<T>(what: string, probe: () => T | undefined | false, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function subscriber(query: string): { events: any[]; client: Client } {
    const client = createClient({ url: `${t.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    clients.push(client);
    const events: any[] = [];
    client.subscribe({ query }, { next: (m) => events.push(m.data?.drbdState ?? m), error: (e) => events.push({ error: e }), complete: () => undefined });
    return { events, client };
  }

  function state(resource: string, diskState: string): DrbdResourceState {
    return { resource, role: 'Secondary', suspended: false, volumes: [{ volumeNumber: 0, minor: 1000, diskState: diskState as never, client: false, quorum: true }], connections: [] };
  }
  const report = (node: string, ...resources: DrbdResourceState[]) => t.controller.events.drbd.apply(node, { backend: 'emulated', full: false, resources, removed: [] });
  const stats = () => t.controller.api.subscriptions.stats();

  beforeAll(async () => {
    t = await startTestController(kind);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await t?.stop();
  });

  it('runs identical changes-only subscriptions once per event and gives every subscriber the result', async () => {
    const store = t.controller.events.drbd;
    const listenersBefore = store.listenerCount;
    const same = Array.from({ length: 5 }, () => subscriber(CHANGES));
    const otherSelection = subscriber('subscription { drbdState(changesOnly: true) { node resource } }');
    const withSnapshot = subscriber('subscription { drbdState { resource node health } }');
    await until('the shared subscribers registered', () => stats().subscribers === 6);
    expect(stats().groups).toBe(2);
    // One source stream per group, one for the unshared subscription.
    await until('the snapshot subscription listening', () => store.listenerCount === listenersBefore + 3);

    const before = stats().executions;
    report('n1', state('rs1', 'UpToDate'));
    for (const s of same) await until('the change', () => s.events.length === 1);
    for (const s of same) expect(s.events).toEqual([{ resource: 'rs1', node: 'n1', health: 'HEALTHY' }]);
    await until('the other selection', () => otherSelection.events.length === 1);
    expect(otherSelection.events).toEqual([{ node: 'n1', resource: 'rs1' }]);
    await until('the unshared subscriber', () => withSnapshot.events.some((e) => e.resource === 'rs1'));
    expect(stats().executions - before).toBe(2);

    // A late subscriber joins the running group: it gets what happens from now on, nothing earlier.
    const late = subscriber(CHANGES);
    await until('the late subscriber registered', () => stats().subscribers === 7);
    expect(stats().groups).toBe(2);
    report('n2', state('rs1', 'Inconsistent'));
    await until('the second change', () => late.events.length === 1 && same.every((s) => s.events.length === 2));
    expect(late.events).toEqual([{ resource: 'rs1', node: 'n2', health: 'DEGRADED' }]);
    expect(same[0]!.events[1]).toEqual(late.events[0]);

    // Subscribers leaving: the group stays while one is left, and goes with its source stream when none is.
    for (const s of same) await s.client.dispose();
    await until('five left', () => stats().subscribers === 2);
    expect(stats().groups).toBe(2);
    await late.client.dispose();
    await otherSelection.client.dispose();
    await withSnapshot.client.dispose();
    await until('every group gone', () => stats().groups === 0 && stats().subscribers === 0);
    await until('every source stream stopped', () => store.listenerCount === listenersBefore);
  });

  it('keeps subscribers with different arguments apart, and reports bad arguments as before', async () => {
    const n1 = subscriber('subscription { drbdState(node: "n1", changesOnly: true) { node } }');
    const n2 = subscriber('subscription { drbdState(node: "n2", changesOnly: true) { node } }');
    const viaVariable = createClient({ url: `${t.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    clients.push(viaVariable);
    const fromVariable: any[] = [];
    viaVariable.subscribe(
      { query: 'subscription($n: String, $c: Boolean) { drbdState(node: $n, changesOnly: $c) { node } }', variables: { n: 'n1', c: true } },
      { next: (m) => fromVariable.push(m.data!.drbdState), error: () => undefined, complete: () => undefined },
    );
    await until('three shared subscribers', () => stats().subscribers === 3);
    expect(stats().groups).toBe(3);
    report('n1', state('rs2', 'UpToDate'));
    report('n2', state('rs2', 'UpToDate'));
    await until('the changes', () => n1.events.length === 1 && n2.events.length === 1 && fromVariable.length === 1);
    expect([n1.events, n2.events, fromVariable]).toEqual([[{ node: 'n1' }], [{ node: 'n2' }], [{ node: 'n1' }]]);

    const bad = await new Promise<any>((resolve) => {
      const c = createClient({ url: `${t.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
      clients.push(c);
      c.subscribe({ query: 'subscription($c: Boolean) { drbdState(changesOnly: $c) { node } }', variables: { c: 'yes' } }, { next: resolve, error: resolve, complete: () => undefined });
    });
    expect(JSON.stringify(bad)).toMatch(/\$c.*Boolean/);
  });
});
