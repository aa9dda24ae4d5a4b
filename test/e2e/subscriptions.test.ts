import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestController, type TestController } from '../support/controller.js';

describe('subscriptions over graphql-ws and their refusal over HTTP', () => {
  let t: TestController;
  let client: Client;
  beforeAll(async () => {
    t = await startTestController('embedded');
    client = createClient({ url: `${t.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket });
  });
  afterAll(async () => {
    await client?.dispose();
    await t?.stop();
  });

  it('streams committed changes of the requested kinds only, in order', async () => {
    const events: any[] = [];
    const iterator = client.iterate({ query: `subscription { modelEvents(kinds: [NODE, STORAGE_POOL]) { kind action path uuid } }` });
    const collect = (async () => {
      for await (const message of iterator) {
        events.push(message.data?.modelEvents ?? message.errors);
        if (events.length === 4) break;
      }
    })();
    // The subscription is live once graphql-ws has acknowledged it; retry the first write until an event arrives.
    for (let i = 0; i < 50 && events.length === 0; i++) {
      if (i === 0) {
        await new Promise((r) => setTimeout(r, 100));
      }
      if (events.length === 0 && i % 10 === 0) {
        await t.gql(`mutation { createResourceGroup(input: { name: "rg${i}" }) { name } }`); // not subscribed: RESOURCE_GROUP
        await t.gql(`mutation { createNode(input: { name: "probe${i}", type: AUXILIARY }) { node { name } } }`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const first = events[0];
    await t.ok(`mutation { createNode(input: { name: "sub-node", netInterfaces: [{ address: "10.0.0.1" }] }) { node { name } } }`);
    await t.ok(`mutation { deleteNode(name: "${first.path[0]}") { name } }`);
    await collect;
    expect(first).toMatchObject({ kind: 'NODE', action: 'CREATED', path: [expect.stringMatching(/^probe/)] });
    // One node with its diskless pool, then the deletion; no RESOURCE_GROUP events.
    expect(events.slice(1).map((e) => [e.kind, e.action, e.path])).toEqual([
      ['STORAGE_POOL', 'CREATED', ['sub-node', 'DfltDisklessStorPool']],
      ['NODE', 'CREATED', ['sub-node']],
      ['NODE', 'DELETED', [first.path[0]]],
    ]);
    expect(events[2].uuid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reports objects removed with their parent, all with their uuids', async () => {
    const events: any[] = [];
    const unsubscribe = client.subscribe(
      { query: `subscription { modelEvents(kinds: [NODE, NET_INTERFACE, STORAGE_POOL]) { kind action path uuid } }` },
      { next: (m) => events.push(m.data!.modelEvents), error: () => undefined, complete: () => undefined },
    );
    await new Promise((r) => setTimeout(r, 300));
    await t.ok(`mutation { createNode(input: { name: "cascade", netInterfaces: [{ address: "10.0.0.7" }] }) { node { name } } }`);
    await t.ok(`mutation { deleteNode(name: "cascade") { name } }`);
    for (let i = 0; i < 40 && events.length < 5; i++) await new Promise((r) => setTimeout(r, 50));
    unsubscribe();
    expect(events.map((e) => [e.kind, e.action, e.path])).toEqual([
      ['STORAGE_POOL', 'CREATED', ['cascade', 'DfltDisklessStorPool']],
      ['NODE', 'CREATED', ['cascade']],
      ['NET_INTERFACE', 'DELETED', ['cascade', 'default']],
      ['STORAGE_POOL', 'DELETED', ['cascade', 'DfltDisklessStorPool']],
      ['NODE', 'DELETED', ['cascade']],
    ]);
    for (const e of events) expect(e.uuid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a failed mutation with no event (nothing is published for a rollback)', async () => {
    const events: any[] = [];
    const unsubscribe = client.subscribe({ query: `subscription { modelEvents(kinds: [NODE]) { path } }` }, { next: (m) => events.push(m), error: () => undefined, complete: () => undefined });
    await new Promise((r) => setTimeout(r, 300));
    const refused = await t.gql(`mutation { createNode(input: { name: "sub-node", netInterfaces: [{ address: "10.0.0.1" }] }) { node { name } } }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('ALREADY_EXISTS');
    await t.ok(`mutation { createNode(input: { name: "after-refusal", type: AUXILIARY }) { node { name } } }`);
    for (let i = 0; i < 40 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    unsubscribe();
    expect(events.map((m) => m.data.modelEvents.path)).toEqual([['after-refusal']]);
  });

  it('nodeStatus gives the current state first, then every change of the named nodes', async () => {
    await t.ok(`mutation { createNode(input: { name: "watched", netInterfaces: [{ address: "10.0.0.8" }] }) { node { name } } }`);
    const seen: any[] = [];
    const unsubscribe = client.subscribe(
      { query: `subscription { nodeStatus(names: ["WATCHED"]) { name connectionStatus props { key value } storagePools { name } } }` },
      { next: (m) => seen.push(m.data!.nodeStatus), error: () => undefined, complete: () => undefined },
    );
    for (let i = 0; i < 40 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await t.ok(`mutation { modifyNode(input: { name: "watched", props: { set: [{ key: "Aux/rack", value: "7" }] } }) { name } }`);
    await t.ok(`mutation { createStoragePool(input: { node: "watched", name: "extra", providerKind: DISKLESS }) { name } }`);
    await t.ok(`mutation { modifyNode(input: { name: "sub-node", props: { set: [{ key: "Aux/rack", value: "1" }] } }) { name } }`); // not watched
    for (let i = 0; i < 40 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    unsubscribe();
    expect(seen[0]).toEqual({ name: 'watched', connectionStatus: 'OFFLINE', props: [], storagePools: [{ name: 'DfltDisklessStorPool' }] });
    expect(seen[1]).toMatchObject({ name: 'watched', props: [{ key: 'Aux/rack', value: '7' }] });
    expect(seen.every((n) => n.name === 'watched')).toBe(true);
  });

  it('refuses a subscription sent over HTTP and points to the WebSocket endpoint', async () => {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'subscription { modelEvents { kind } }' }),
    });
    expect(response.status).toBe(400);
    const body: any = await response.json();
    expect(body.data).toBeUndefined();
    expect(body.errors[0].extensions.code).toBe('SUBSCRIPTION_REQUIRES_WEBSOCKET');
    expect(body.errors[0].message).toContain(`ws://${new URL(t.url).host}/graphql`);
  });

  it('serves GraphiQL to browsers and JSON to API clients on the same URL', async () => {
    const html = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    const page = await html.text();
    expect(page).toContain('/graphiql/graphiql.js');
    expect(page).not.toMatch(/https?:\/\/(?!127\.0\.0\.1|localhost)/); // no CDN
    const json = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ controller { props { key } } }')}`, { headers: { accept: 'application/json', 'apollo-require-preflight': 'true' } });
    expect(await json.json()).toEqual({ data: { controller: { props: [] } } });
    const asset = await fetch(`${t.url}/graphiql/graphiql.js`);
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(100_000);
  });
});
