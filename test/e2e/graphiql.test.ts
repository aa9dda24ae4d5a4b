/**
 * End to end: Debian's headless Chromium, driven by playwright-core, runs the GraphiQL page the controller serves,
 * executes a query over HTTP and a subscription over graphql-ws, and loads nothing from outside the controller.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type BrowserContext, type Page, type WebSocket } from 'playwright-core';
import { startTestController, type TestController } from '../support/controller.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const RESPONSE_EDITOR = '.graphiql-response .CodeMirror';
const TIMEOUT = 60_000;

/** The CodeMirror 5 instance GraphiQL 4 hangs on its editor element. */
type CodeMirrorElement = Element & { CodeMirror?: { getValue(): string; setValue(value: string): void } };

/** Polls `condition` (Node side) until it holds or `timeoutMs` passes; then fails with `what()`. */
async function until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('GraphiQL in headless Chromium', () => {
  let t: TestController | undefined;
  let context: BrowserContext | undefined;
  let profileDir: string | undefined;
  let page: Page;
  /** Every URL the page requested (HTTP and WebSocket), in order. */
  const requests: string[] = [];
  /** graphql-ws messages the page sent, parsed. */
  const wsSent: { type?: string; payload?: { query?: string } }[] = [];
  /** Bodies of the POSTs the page sent to /graphql, parsed. */
  const graphqlPosts: { query?: string; operationName?: string | null }[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `The GraphiQL end-to-end test needs Debian's Chromium at ${CHROMIUM}. ` +
          'Install it with: apt-get install -y --no-install-recommends chromium',
      );
    }
    t = await startTestController('embedded');
    profileDir = await mkdtemp(path.join(tmpdir(), 'bp-test-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    context.on('request', (request) => {
      requests.push(request.url());
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/graphql') {
        try {
          graphqlPosts.push(JSON.parse(request.postData() ?? 'null') ?? {});
        } catch {
          graphqlPosts.push({});
        }
      }
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', (ws: WebSocket) => {
      requests.push(ws.url());
      ws.on('framesent', ({ payload }) => {
        try {
          wsSent.push(JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')));
        } catch {
          wsSent.push({});
        }
      });
    });
  }, TIMEOUT);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (profileDir) await rm(profileDir, { recursive: true, force: true }).catch(() => undefined);
    await t?.stop();
  }, TIMEOUT);

  const responseText = (): Promise<string> =>
    page.evaluate((selector) => {
      const element = document.querySelector(selector) as CodeMirrorElement | null;
      return element?.CodeMirror?.getValue() ?? document.querySelector('.graphiql-response')?.textContent ?? '';
    }, RESPONSE_EDITOR);

  /** Waits until the response pane contains every one of `parts`; fails showing what the pane holds. */
  async function waitForResponse(parts: string[], timeoutMs: number): Promise<void> {
    try {
      await page.waitForFunction(
        ({ selector, parts }) => {
          const element = document.querySelector(selector) as CodeMirrorElement | null;
          const text = element?.CodeMirror?.getValue() ?? '';
          return parts.every((part) => text.includes(part));
        },
        { selector: RESPONSE_EDITOR, parts },
        { timeout: timeoutMs, polling: 100 },
      );
    } catch (error) {
      throw new Error(
        `The response pane never showed ${JSON.stringify(parts)} within ${timeoutMs} ms. ` +
          `It shows: ${JSON.stringify(await responseText())}. Page errors: ${JSON.stringify(pageErrors)}. (${(error as Error).message})`,
      );
    }
  }

  /**
   * Replaces the operation in the query editor, then waits until GraphiQL has taken it in: its change handler is
   * debounced (100 ms) and until it runs, Execute sends the new text with the previous operation's name.
   */
  async function setOperation(operation: string): Promise<void> {
    await page.evaluate(
      ({ selector, operation }) => {
        const element = document.querySelector(selector) as CodeMirrorElement | null;
        if (!element?.CodeMirror) throw new Error(`No CodeMirror editor at ${selector}`);
        element.CodeMirror.setValue(operation);
      },
      { selector: QUERY_EDITOR, operation },
    );
    // The debounced handler stores the text in localStorage as it updates the operation name: wait for it, then
    // give GraphiQL's state a moment to settle.
    await page.waitForFunction((operation) => localStorage.getItem('graphiql:query') === operation, operation, {
      timeout: 10_000,
      polling: 50,
    });
    await page.waitForTimeout(1000);
  }

  function expectOnlyLocalRequests(): void {
    const remote = requests.filter((url) => {
      const parsed = new URL(url);
      if (['data:', 'blob:', 'about:'].includes(parsed.protocol)) return false;
      return !LOCAL_HOSTS.has(parsed.hostname);
    });
    expect(remote).toEqual([]);
  }

  it(
    'loads from the controller alone and runs a query over HTTP',
    async () => {
      const controller = t!;
      const introspected = page.waitForResponse(
        (response) => response.request().method() === 'POST' && (response.request().postData() ?? '').includes('__schema'),
        { timeout: 30_000 },
      );
      const response = await page.goto(`${controller.url}/graphql`, { waitUntil: 'load', timeout: 30_000 });
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-type']).toMatch(/text\/html/);
      await page.locator('.graphiql-container').waitFor({ state: 'visible', timeout: 30_000 });
      await page.locator(QUERY_EDITOR).waitFor({ state: 'visible', timeout: 30_000 });
      expect((await introspected).status()).toBe(200);

      const query = '{ resourceGroups { edges { node { name } } } }';
      await setOperation(query);
      await page.locator('.graphiql-execute-button').click();
      await waitForResponse(['DfltRscGrp'], 15_000);

      const text = await responseText();
      // The default operation (`query Cluster`, which also lists resource groups) would answer with nodes too.
      expect(text).not.toContain('totalCount');
      expect(text).not.toContain('"errors"');
      expect(JSON.parse(text)).toEqual({ data: { resourceGroups: { edges: [{ node: { name: 'DfltRscGrp' } }] } } });
      const sent = graphqlPosts.filter((body) => body.query === query);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.operationName ?? null).toBeNull();

      expect(pageErrors).toEqual([]);
      expectOnlyLocalRequests();
    },
    TIMEOUT,
  );

  it(
    'receives model events through a graphql-ws subscription',
    async () => {
      const controller = t!;
      const subscription = 'subscription { modelEvents(kinds: [NODE]) { kind action path } }';
      await setOperation(subscription);
      await page.locator('.graphiql-execute-button').click();
      await until(
        () => wsSent.some((message) => message.type === 'subscribe' && message.payload?.query === subscription),
        15_000,
        () => `GraphiQL to send the subscription over graphql-ws (sent: ${JSON.stringify(wsSent)}; requests: ${JSON.stringify(requests)})`,
      );

      // The server registers the subscription a moment after the frame is sent: if the event does not show,
      // delete the node and create it again.
      const name = 'browser-node';
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1) await controller.ok(`mutation { deleteNode(name: "${name}") { name } }`);
        await controller.ok(`mutation { createNode(input: { name: "${name}", netInterfaces: [{ address: "10.0.0.9" }] }) { node { name } } }`);
        try {
          await waitForResponse([name, 'CREATED'], attempt < 5 ? 2000 : 10_000);
          break;
        } catch (error) {
          if (attempt >= 5) throw error;
        }
      }
      const event = JSON.parse(await responseText()) as unknown;
      expect(event).toEqual({ data: { modelEvents: { kind: 'NODE', action: 'CREATED', path: [name] } } });

      // Subscriptions went over the WebSocket, never as an HTTP POST (which the server refuses).
      expect(graphqlPosts.filter((body) => body.query === subscription)).toEqual([]);
      expect(requests.filter((url) => url.startsWith('ws:'))).toEqual([`${controller.url.replace(/^http/, 'ws')}/graphql`]);

      expect(pageErrors).toEqual([]);
      expectOnlyLocalRequests();
    },
    TIMEOUT,
  );
});
