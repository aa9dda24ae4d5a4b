/**
 * The API's edge, over real sockets: which requests are answered at all (Host and Origin checks against DNS
 * rebinding and cross-site WebSockets), what Express answers when GraphQL is never reached (malformed bodies,
 * unknown paths), and the query depth limit on both transports.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getIntrospectionQuery } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { GRAPHIQL_DIR } from '../../scripts/build-graphiql.js';
import { MAX_QUERY_DEPTH } from '../../src/graph/depth-limit.js';
import { RequestPolicy, isLoopbackListenAddress, parseAllowedHosts, parseAllowedOrigins } from '../../src/graph/origin.js';
import { startApiServer, type ApiServer } from '../../src/graph/server.js';
import { startTestController, type TestController } from '../support/controller.js';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** An HTTP request with full control of the headers (fetch will not set Host). */
function request(base: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      // The path as given, not normalized (so `..` reaches the server).
      { host: url.hostname, port: url.port, path: options.path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function postGraphQL(base: string, query: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return request(base, {
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
}

/** Opens a graphql-ws WebSocket with the given headers; answers 'open' or the refusal's status and body. */
function upgrade(base: string, headers: Record<string, string>, path = '/graphql'): Promise<{ opened: true } | { opened: false; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, 'graphql-transport-ws', { headers });
    socket.on('open', () => {
      socket.close();
      resolve({ opened: true });
    });
    socket.on('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, text }));
    });
    socket.on('error', (error) => reject(error));
  });
}

/** A graphql-ws client whose WebSocket sends `headers` on the upgrade; no retries. */
function wsClient(base: string, headers: Record<string, string> = {}): Client {
  class HeaderedWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  return createClient({ url: `${base.replace(/^http/, 'ws')}/graphql`, webSocketImpl: HeaderedWebSocket, retryAttempts: 0, lazy: true });
}

/** Runs one operation over graphql-ws: its first result, or throws what the client reported. */
async function runOverWs(client: Client, query: string): Promise<any> {
  for await (const result of client.iterate({ query })) return result;
  throw new Error('the operation completed without a result');
}

/** `{ resourceGroups { edges { node { resourceDefinitions { resourceGroup { ... name } } } } } }`, `depth` levels. */
function nestedQuery(depth: number): string {
  let inner = 'name';
  for (let level = depth - 1; level >= 4; level--) inner = `${level % 2 === 0 ? 'resourceDefinitions' : 'resourceGroup'} { ${inner} }`;
  return `{ resourceGroups { edges { node { ${inner} } } } }`;
}

function expectNoInternals(text: string): void {
  expect(text).not.toContain('/work/');
  expect(text).not.toContain('node_modules');
  expect(text).not.toMatch(/\bat .+:\d+:\d+/); // a stack frame
  expect(text).not.toContain('ENOENT');
  expect(text).not.toMatch(/<html|<pre/i);
}

describe('the API edge', () => {
  let t: TestController;
  let base: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    t = await startTestController('embedded');
    base = t.url;
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await t?.stop();
  });
  const nodeNames = async (): Promise<string[]> =>
    (await t.ok<{ nodes: { edges: { node: { name: string } }[] } }>('{ nodes { edges { node { name } } } }')).nodes.edges.map((edge) => edge.node.name);

  describe('WebSocket origin check', () => {
    it('refuses an upgrade from another site with 403 and FORBIDDEN_ORIGIN', async () => {
      const result = await upgrade(base, { Origin: 'https://evil.example' });
      expect(result).toMatchObject({ opened: false, status: 403 });
      const body = JSON.parse((result as { text: string }).text);
      expect(body.errors[0].extensions.code).toBe('FORBIDDEN_ORIGIN');
      expect(body.errors[0].message).toContain('https://evil.example');
    });

    it('never runs a mutation sent over a refused connection', async () => {
      const evil = wsClient(base, { Origin: 'https://evil.example' });
      clients.push(evil);
      await expect(runOverWs(evil, 'mutation { createNode(input: { name: "evil-node", type: AUXILIARY }) { node { name } } }')).rejects.toBeDefined();
      expect(await nodeNames()).not.toContain('evil-node');
    });

    it('accepts the controller\'s own origin (GraphiQL) and clients without an Origin', async () => {
      expect(await upgrade(base, { Origin: base })).toEqual({ opened: true });
      expect(await upgrade(base, { Origin: `http://localhost:${new URL(base).port}`, Host: `localhost:${new URL(base).port}` })).toEqual({ opened: true });
      expect(await upgrade(base, {})).toEqual({ opened: true });

      const same = wsClient(base, { Origin: base });
      const none = wsClient(base);
      clients.push(same, none);
      expect(await runOverWs(same, 'mutation { createNode(input: { name: "same-origin", type: AUXILIARY }) { node { name } } }')).toEqual({
        data: { createNode: { node: { name: 'same-origin' } } },
      });
      expect(await runOverWs(none, 'mutation { createNode(input: { name: "no-origin", type: AUXILIARY }) { node { name } } }')).toEqual({
        data: { createNode: { node: { name: 'no-origin' } } },
      });
      expect(await nodeNames()).toEqual(expect.arrayContaining(['same-origin', 'no-origin']));
    });

    it('refuses a same-looking origin on another port or host, and an opaque origin', async () => {
      const port = Number(new URL(base).port);
      for (const origin of [`http://127.0.0.1:${port + 1}`, `http://localhost:${port}`, 'null', 'file://', 'not an origin']) {
        const result = await upgrade(base, { Origin: origin });
        expect([origin, result]).toEqual([origin, expect.objectContaining({ opened: false, status: 403 })]);
      }
    });

    it('answers an upgrade on another path with a JSON 404', async () => {
      const result = await upgrade(base, {}, '/elsewhere');
      expect(result).toMatchObject({ opened: false, status: 404 });
      expect(JSON.parse((result as { text: string }).text).errors[0].extensions.code).toBe('NOT_FOUND');
    });
  });

  describe('Host check (DNS rebinding)', () => {
    it('refuses an HTTP request for another host name with FORBIDDEN_HOST and changes nothing', async () => {
      const response = await postGraphQL(base, 'mutation { createNode(input: { name: "rebound", type: AUXILIARY }) { node { name } } }', { Host: `evil.example:${new URL(base).port}` });
      expect(response.status).toBe(403);
      expect(response.headers['content-type']).toMatch(/application\/json/);
      const body = JSON.parse(response.text);
      expect(body).toEqual({ errors: [{ message: expect.stringContaining('evil.example'), extensions: { code: 'FORBIDDEN_HOST', correction: expect.any(String) } }] });
      expect(await nodeNames()).not.toContain('rebound');
    });

    it('applies to every route and to WebSocket upgrades', async () => {
      for (const path of ['/health', '/graphql', '/graphiql/graphiql.js', '/']) {
        const response = await request(base, { path, headers: { Host: 'evil.example', accept: 'text/html' } });
        expect([path, response.status]).toEqual([path, 403]);
      }
      // Even a same-origin-looking page on the rebound name.
      const result = await upgrade(base, { Host: 'evil.example', Origin: 'http://evil.example' });
      expect(result).toMatchObject({ opened: false, status: 403 });
      expect(JSON.parse((result as { text: string }).text).errors[0].extensions.code).toBe('FORBIDDEN_HOST');
    });

    it('answers the loopback names', async () => {
      const port = new URL(base).port;
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `127.1.2.3:${port}`, `LOCALHOST:${port}`]) {
        const response = await request(base, { path: '/health', headers: { Host: host } });
        expect([host, response.status]).toEqual([host, 200]);
      }
    });
  });

  describe('errors Express would answer', () => {
    it('answers malformed JSON with a JSON BAD_REQUEST and no internals', async () => {
      const response = await request(base, { method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json' }, body: '{"query": "{ nodes { totalCount } }",' });
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/json/);
      expectNoInternals(response.text);
      const body = JSON.parse(response.text);
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(body.errors[0].message).toMatch(/JSON/);
      expect(JSON.stringify(body)).not.toMatch(/stack/i);
    });

    it('answers a body over the limit with 413 BAD_REQUEST', async () => {
      const response = await request(base, { method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ __typename }${' '.repeat(3 * 1024 * 1024)}` }) });
      expect(response.status).toBe(413);
      expectNoInternals(response.text);
      expect(JSON.parse(response.text).errors[0].extensions.code).toBe('BAD_REQUEST');
    });

    it('answers an unknown GraphiQL asset and an unknown path with a JSON 404 without file paths', async () => {
      for (const path of ['/graphiql/nope.js', '/graphiql/', '/graphiql/../package.json', '/nope']) {
        const response = await request(base, { path });
        expect([path, response.status]).toEqual([path, 404]);
        expect(response.headers['content-type']).toMatch(/application\/json/);
        expectNoInternals(response.text);
        expect(response.text).not.toContain('dist/graphiql');
        expect(JSON.parse(response.text).errors[0].extensions.code).toBe('NOT_FOUND');
      }
      expect((await request(base, { path: '/nope' })).headers['x-powered-by']).toBeUndefined();
    });

    it('still serves the GraphiQL assets', async () => {
      const response = await request(base, { path: '/graphiql/graphiql.css' });
      expect(response.status).toBe(200);
    });
  });

  describe('query depth limit', () => {
    it(`allows ${MAX_QUERY_DEPTH} levels and refuses more over HTTP`, async () => {
      const atLimit = await postGraphQL(base, nestedQuery(MAX_QUERY_DEPTH));
      expect(JSON.parse(atLimit.text)).toEqual({ data: expect.any(Object) });

      const response = await postGraphQL(base, nestedQuery(MAX_QUERY_DEPTH + 1));
      expect(response.status).toBe(400);
      const body = JSON.parse(response.text);
      expect(body.data).toBeUndefined();
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(body.errors[0].message).toContain(`limit is ${MAX_QUERY_DEPTH}`);
    });

    it('counts the levels inside fragments and inline fragments', async () => {
      const query = `
        query Deep { resourceGroups { edges { node { ...A } } } }
        fragment A on ResourceGroup { resourceDefinitions { ... on ResourceDefinition { resourceGroup { ...A } } } }`;
      // A cycle: graphql's own rule refuses it; the depth rule must not loop.
      const cyclic = JSON.parse((await postGraphQL(base, query)).text);
      expect(cyclic.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');

      let fragments = 'fragment F0 on ResourceGroup { name }';
      for (let i = 1; i <= 10; i++) {
        const type = i % 2 === 1 ? 'ResourceDefinition' : 'ResourceGroup';
        const field = i % 2 === 1 ? 'resourceGroup' : 'resourceDefinitions';
        fragments += `\nfragment F${i} on ${type} { ${field} { ...F${i - 1} } }`;
      }
      // resourceGroups(1) edges(2) node(3) + 10 fragment levels + name = 14: allowed.
      const shallow = JSON.parse((await postGraphQL(base, `{ resourceGroups { edges { node { ...F10 } } } }\n${fragments}`)).text);
      expect(shallow.errors).toBeUndefined();
      let deeper = fragments;
      for (let i = 11; i <= 20; i++) {
        const type = i % 2 === 1 ? 'ResourceDefinition' : 'ResourceGroup';
        const field = i % 2 === 1 ? 'resourceGroup' : 'resourceDefinitions';
        deeper += `\nfragment F${i} on ${type} { ${field} { ...F${i - 1} } }`;
      }
      // 3 + 20 + 1 = 24.
      const refused = JSON.parse((await postGraphQL(base, `{ resourceGroups { edges { node { ...F20 } } } }\n${deeper}`)).text);
      expect(refused.errors.map((e: any) => e.extensions.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(refused.errors[0].message).toContain(`${MAX_QUERY_DEPTH}`);
    });

    it('refuses a too-deep operation over graphql-ws', async () => {
      const client = wsClient(base);
      clients.push(client);
      let reported: unknown;
      try {
        await runOverWs(client, nestedQuery(MAX_QUERY_DEPTH + 5));
      } catch (error) {
        reported = error;
      }
      expect(reported).toEqual([
        expect.objectContaining({ message: expect.stringContaining(`limit is ${MAX_QUERY_DEPTH}`), extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }) }),
      ]);
      // The same connection still serves a shallow one.
      expect(await runOverWs(client, '{ resourceGroups { edges { node { name } } } }')).toEqual({ data: { resourceGroups: { edges: [{ node: { name: 'DfltRscGrp' } }] } } });
    });

    it("passes GraphiQL's standard introspection query", async () => {
      for (const query of [getIntrospectionQuery(), getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true })]) {
        const response = await postGraphQL(base, query);
        expect(response.status).toBe(200);
        const body = JSON.parse(response.text);
        expect(body.errors).toBeUndefined();
        expect(body.data.__schema.types.length).toBeGreaterThan(20);
      }
    });
  });

  describe('allowed origins and hosts', () => {
    let api: ApiServer;
    beforeAll(async () => {
      api = await startApiServer({
        orm: t.controller.orm,
        events: t.controller.events,
        log: t.controller.log,
        host: '127.0.0.1',
        port: 0,
        graphiqlDir: GRAPHIQL_DIR,
        allowedOrigins: ['https://ops.example'],
        allowedHosts: ['controller.example'],
      });
    });
    afterAll(async () => {
      await api?.stop();
    });

    it('accepts a listed origin and a listed host name, and still refuses others', async () => {
      expect(await upgrade(api.url, { Origin: 'https://ops.example' })).toEqual({ opened: true });
      expect(await upgrade(api.url, { Origin: 'https://OPS.example:443' })).toEqual({ opened: true });
      expect(await upgrade(api.url, { Origin: 'http://ops.example' })).toMatchObject({ opened: false, status: 403 });
      expect((await request(api.url, { path: '/health', headers: { Host: 'controller.example:8080' } })).status).toBe(200);
      expect((await request(api.url, { path: '/health', headers: { Host: 'sub.controller.example' } })).status).toBe(403);
      // The page served under the allowed name is same-origin.
      expect(await upgrade(api.url, { Host: 'controller.example', Origin: 'http://controller.example' })).toEqual({ opened: true });
    });
  });
});

describe('request policy', () => {
  it('knows the loopback listen addresses', () => {
    for (const address of ['127.0.0.1', '127.0.1.1', '::1', '[::1]', 'localhost']) expect([address, isLoopbackListenAddress(address)]).toEqual([address, true]);
    for (const address of ['0.0.0.0', '::', '10.0.0.1', 'controller.example']) expect([address, isLoopbackListenAddress(address)]).toEqual([address, false]);
  });

  it('on a non-loopback address checks the Host only when allowed hosts are set', () => {
    const open = new RequestPolicy({ listenHost: '0.0.0.0' });
    expect(open.checkHost('anything.example')).toBeUndefined();
    const listed = new RequestPolicy({ listenHost: '0.0.0.0', allowedHosts: ['controller.example', '10.0.0.5'] });
    expect(listed.checkHost('controller.example:3370')).toBeUndefined();
    expect(listed.checkHost('10.0.0.5')).toBeUndefined();
    expect(listed.checkHost('127.0.0.1')?.code).toBe('FORBIDDEN_HOST');
    expect(listed.checkHost('evil.example')?.code).toBe('FORBIDDEN_HOST');
  });

  it('refuses malformed Host headers on loopback', () => {
    const policy = new RequestPolicy({ listenHost: '127.0.0.1' });
    for (const host of [undefined, '', 'evil.example@127.0.0.1', '127.0.0.1/evil', '127.0.0.1.evil.example', 'localhost.evil.example']) {
      expect([host, policy.checkHost(host)?.code]).toEqual([host, 'FORBIDDEN_HOST']);
    }
    expect(policy.checkHost('[::1]:3370')).toBeUndefined();
  });

  it('validates the settings', () => {
    expect(parseAllowedHosts(' a.example, ,B.example ,::1')).toEqual(['a.example', 'b.example', '[::1]']);
    expect(() => parseAllowedHosts('a.example:80')).toThrow(/without scheme or port/);
    expect(() => parseAllowedHosts('https://a.example')).toThrow(/not a host name/);
    expect(parseAllowedOrigins('https://A.example/, http://localhost:5173')).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(() => parseAllowedOrigins('a.example')).toThrow(/not an origin/);
    expect(() => parseAllowedOrigins('https://a.example/path')).toThrow(/not an origin/);
    expect(() => parseAllowedOrigins('null')).toThrow(/not an origin/);
  });
});
