import { isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../manifest/trust-proxy.js';

/**
 * The client's address for a connection: the socket's peer, or, when the peer
 * is a trusted proxy, the X-Forwarded-For entry past the last trusted hop.
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) reads as the IPv4 address.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trust: TrustProxy): string {
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(', ') : forwardedFor;
  const address = proxyaddr({ headers: { 'x-forwarded-for': header }, socket: { remoteAddress: peer ?? '' } } as never, trust) ?? '';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * What counts as one address when counting failures: an IPv6 address by its
 * /64 (one home or server usually owns a whole /64), anything else as is.
 */
export function addressGroup(address: string): string {
  if (!isIPv6(address)) return address;
  const parts = ipaddr.IPv6.parse(address).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}
