import { readFile } from 'node:fs/promises';
import { SATELLITE_PATH } from '../common/protocol/satellite.js';

/** Where a satellite looks for its controller when not told otherwise (the controller's default port). */
export const DEFAULT_CONTROLLER_URL = 'ws://127.0.0.1:3370';

/** How often a satellite re-measures capacity when nothing else happens, by default. */
export const DEFAULT_CAPACITY_INTERVAL_MS = 30_000;

/**
 * The WebSocket URL of the controller's satellite endpoint for a controller address given by an operator: `ws://` and
 * `wss://` are kept, `http://`/`https://` become `ws://`/`wss://`, and a URL without a path gets {@link SATELLITE_PATH}
 * (`ws://ctrl:3370` -> `ws://ctrl:3370/satellite`); an explicit path is kept as given (e.g. behind a proxy).
 * @throws Error with a readable message for anything that is not such a URL.
 */
export function satelliteEndpoint(controller: string): string {
  let url: URL;
  try {
    url = new URL(controller.trim());
  } catch {
    throw new Error(`'${controller}' is not a controller URL; give one like ws://controller.example.com:3370`);
  }
  const schemes: Record<string, string> = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new Error(`'${controller}' is not a controller URL: use ws://, wss://, http:// or https://`);
  url.protocol = scheme;
  if (url.pathname === '' || url.pathname === '/') url.pathname = SATELLITE_PATH;
  return url.toString();
}

/**
 * The satellite's secret, from a file (preferred: not visible in the process environment) or from the value of an
 * environment variable. Surrounding whitespace, e.g. the newline an editor adds, is not part of the secret.
 * @throws Error saying how to provide the secret when neither is given, or the file is unreadable or empty.
 */
export async function readSatelliteSecret(source: { file?: string; value?: string }): Promise<string> {
  if (source.file) {
    let text: string;
    try {
      text = await readFile(source.file, 'utf8');
    } catch (error) {
      throw new Error(`cannot read the satellite secret file '${source.file}': ${(error as Error).message}`);
    }
    const secret = text.trim();
    if (!secret) throw new Error(`the satellite secret file '${source.file}' is empty; put the node's secret (from createNode or rotateNodeSecret) in it`);
    return secret;
  }
  const secret = source.value?.trim();
  if (secret) return secret;
  throw new Error(
    "no satellite secret: pass --secret-file <path> (or BLOCKPLANE_SATELLITE_SECRET_FILE), or set BLOCKPLANE_SATELLITE_SECRET, to the node's secret shown by createNode or rotateNodeSecret",
  );
}
