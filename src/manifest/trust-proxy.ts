import proxyaddr from 'proxy-addr';

/** `server.trustProxy` as written: true (every hop), a hop count, or proxy addresses, CIDR ranges and names. */
export type TrustProxySetting = boolean | number | string | string[];

/** Whether the address `hop` steps from sockey (0 = the socket's peer) is a proxy whose X-Forwarded-For entry is believed. */
export type TrustProxy = (address: string, hop: number) => boolean;

/** The names proxy-addr (and Express) accept in a list. */
export const TRUST_PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;

/** A trustProxy entry that is not an address; `index` is its place in a list. */
export class TrustProxyError extends Error {
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(message);
  }
}

/**
 * Compiles `server.trustProxy` once, as Express's `trust proxy` reads it:
 * absent, false or 0 trust nobody; true trusts every hop (the client is the
 * first X-Forwarded-For entry, which the client itself may have written);
 * N trusts N hops; a list (or a comma-separated string) trusts those
 * addresses. Throws a TrustProxyError naming the first entry that is not one.
 */
export function compileTrustProxy(value: TrustProxySetting | undefined): TrustProxy {
  if (value === undefined || value === false || value === 0) return () => false;
  if (value === true) return () => true;
  if (typeof value === 'number') return (_address, hop) => hop < value;
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const entries: string[] = [];
  items.forEach((item, index) => {
    // The schema says so too; settings may be read before it is checked.
    if (typeof item !== 'string') throw new TrustProxyError('expected true, a hop count, or proxy addresses as strings', Array.isArray(value) ? index : undefined);
    for (const entry of item
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean)) {
      try {
        proxyaddr.compile(entry);
      } catch {
        throw new TrustProxyError(`"${entry}" is not an IP address, a CIDR range (10.0.0.0/8) or one of ${TRUST_PROXY_NAMES.join(', ')}`, Array.isArray(value) ? index : undefined);
      }
      entries.push(entry);
    }
  });
  return entries.length ? proxyaddr.compile(entries) : () => false;
}
