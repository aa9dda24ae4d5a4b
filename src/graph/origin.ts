/**
 * Which requests the API answers at all, judged from the Host and Origin headers before anything else runs:
 *
 * - Host (HTTP and WebSocket alike), against DNS rebinding: a page on evil.example whose name is re-pointed to
 *   127.0.0.1 reaches the controller with `Host: evil.example`. When the controller listens on loopback, only
 *   loopback names (localhost, 127.x.x.x, [::1]) and the names in `allowedHosts` are answered. On any other
 *   address the check applies only when `allowedHosts` is set.
 * - Origin (WebSocket upgrades), against cross-site WebSocket hijacking: browsers let any page open a WebSocket to
 *   any address and send its Origin. An upgrade without an Origin (a non-browser client: graphql-ws in Node, a
 *   satellite) is accepted; one with an Origin only from the controller's own origin (same host and port as the
 *   Host header) or from `allowedOrigins`.
 */
import type { IncomingMessage } from 'node:http';
import { isIPv4 } from 'node:net';

export const ForbiddenCode = {
  FORBIDDEN_HOST: 'FORBIDDEN_HOST',
  FORBIDDEN_ORIGIN: 'FORBIDDEN_ORIGIN',
} as const;
export type ForbiddenCode = (typeof ForbiddenCode)[keyof typeof ForbiddenCode];

/** Why a request is not answered: sent as a GraphQL-shaped error with HTTP 403. */
export interface Refusal {
  code: ForbiddenCode;
  message: string;
  correction: string;
}

export interface RequestPolicyOptions {
  /** The address the server listens on (decides whether the loopback Host rule applies). */
  listenHost: string;
  /** Host names (no scheme, no port) answered besides the loopback ones. */
  allowedHosts?: readonly string[] | undefined;
  /** Origins (`scheme://host[:port]`) whose pages may open the WebSocket besides the controller's own. */
  allowedOrigins?: readonly string[] | undefined;
}

/**
 * Parses a Host-header-like value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`) into its normalized
 * hostname (lower case, IPv4 in dotted decimal, IPv6 in brackets, no trailing dot) and host (hostname[:port]).
 * Anything else (user info, a path, garbage) answers undefined.
 */
function parseHost(value: string, scheme = 'http:'): { hostname: string; host: string; port: string } | undefined {
  if (!value || /[\s/\\?#@]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(`${scheme}//${value}`);
  } catch {
    return undefined;
  }
  if (!url.hostname || url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
  return { hostname: url.hostname.replace(/\.$/, ''), host: url.host, port: url.port };
}

/** localhost, 127.0.0.0/8 and ::1, in the normalized form parseHost gives (or as a bare address/name). */
export function isLoopbackHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name === '[::1]' || name === '::1') return true;
  return isIPv4(name) && name.startsWith('127.');
}

/** Whether an address to listen on is a loopback one (127.0.0.0/8, ::1, localhost). */
export function isLoopbackListenAddress(address: string): boolean {
  const bare = address.trim().replace(/^\[(.*)\]$/, '$1');
  if (bare === '::ffff:127.0.0.1' || /^::ffff:127\./i.test(bare)) return true;
  return isLoopbackHostname(bare);
}

/** Splits a comma-separated setting; accepts an array as is. Empty entries are dropped. */
function entries(list: string | readonly string[] | undefined): string[] {
  const items = typeof list === 'string' ? list.split(',') : [...(list ?? [])];
  return items.map((item) => item.trim()).filter((item) => item.length > 0);
}

/**
 * Normalizes the `allowedHosts` setting (comma-separated string or list): host names or IP addresses, without
 * scheme or port. Throws an Error naming the first bad entry.
 */
export function parseAllowedHosts(list: string | readonly string[] | undefined): string[] {
  return entries(list).map((entry) => {
    const bare = entry.includes(':') && !entry.startsWith('[') && !/^[^:]+:\d+$/.test(entry) ? `[${entry}]` : entry; // bare IPv6
    const parsed = parseHost(bare);
    if (!parsed || parsed.port || /:\d*$/.test(bare.replace(/^\[.*\]/, ''))) {
      throw new Error(`allowed hosts: '${entry}' is not a host name; give names or addresses without scheme or port, e.g. controller.example.com`);
    }
    return parsed.hostname;
  });
}

/**
 * Normalizes the `allowedOrigins` setting (comma-separated string or list): `http(s)://host[:port]`, nothing
 * after the port. Throws an Error naming the first bad entry.
 */
export function parseAllowedOrigins(list: string | readonly string[] | undefined): string[] {
  return entries(list).map((entry) => {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    const originOnly = url && (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash;
    if (!url || !originOnly) {
      throw new Error(`allowed origins: '${entry}' is not an origin; give scheme, host and optional port only, e.g. https://ops.example.com or http://localhost:5173`);
    }
    return url.origin;
  });
}

/** Shortens a header value for a message (the values come from the client). */
function quote(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return `'${printable.length > 100 ? `${printable.slice(0, 100)}...` : printable}'`;
}

export class RequestPolicy {
  readonly loopbackOnly: boolean;
  private readonly allowedHosts: ReadonlySet<string>;
  private readonly allowedOrigins: ReadonlySet<string>;

  constructor(options: RequestPolicyOptions) {
    this.loopbackOnly = isLoopbackListenAddress(options.listenHost);
    this.allowedHosts = new Set(parseAllowedHosts(options.allowedHosts));
    this.allowedOrigins = new Set(parseAllowedOrigins(options.allowedOrigins));
  }

  /** The Host rule; undefined when the request may proceed. */
  checkHost(hostHeader: string | undefined): Refusal | undefined {
    if (!this.loopbackOnly && this.allowedHosts.size === 0) return undefined;
    const parsed = hostHeader === undefined ? undefined : parseHost(hostHeader);
    if (parsed && ((this.loopbackOnly && isLoopbackHostname(parsed.hostname)) || this.allowedHosts.has(parsed.hostname))) return undefined;
    const what = hostHeader === undefined ? 'A request without a Host header' : `Host ${quote(hostHeader)}`;
    const accepted = this.loopbackOnly ? 'localhost, 127.x.x.x, [::1] or a name in the allowed hosts' : 'a name in the allowed hosts';
    return {
      code: ForbiddenCode.FORBIDDEN_HOST,
      message: `${what} is not answered: this controller only answers requests addressed to ${accepted} (DNS rebinding protection).`,
      correction: 'Address the controller by a loopback name or address, or add the name to --allowed-hosts (BLOCKPLANE_ALLOWED_HOSTS).',
    };
  }

  /** The Origin rule for WebSocket upgrades; undefined when the upgrade may proceed. */
  checkOrigin(originHeader: string | undefined, hostHeader: string | undefined): Refusal | undefined {
    if (originHeader === undefined) return undefined; // not a browser
    let origin: URL | undefined;
    try {
      origin = new URL(originHeader);
    } catch {
      origin = undefined;
    }
    if (origin && (origin.protocol === 'http:' || origin.protocol === 'https:')) {
      if (this.allowedOrigins.has(origin.origin)) return undefined;
      // Same origin: the page was served by this controller under the name the browser used for the WebSocket.
      const host = hostHeader === undefined ? undefined : parseHost(hostHeader, origin.protocol);
      if (host && host.host === origin.host) return undefined;
    }
    return {
      code: ForbiddenCode.FORBIDDEN_ORIGIN,
      message: `Origin ${quote(originHeader)} may not open the API WebSocket: only pages served by this controller or from an allowed origin may (cross-site WebSocket protection).`,
      correction: 'Add the origin to --allowed-origins (BLOCKPLANE_ALLOWED_ORIGINS), or connect with a non-browser client.',
    };
  }

  /** Both rules for a WebSocket upgrade request. */
  checkUpgrade(request: IncomingMessage): Refusal | undefined {
    return this.checkHost(request.headers.host) ?? this.checkOrigin(request.headers.origin, request.headers.host);
  }
}
