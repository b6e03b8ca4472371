// Which user owns the other end of a loopback TCP connection, from the kernel's socket table
// (/proc/net/tcp and tcp6 of our network namespace, which loopback peers share). Headers are what
// any local program can write; the owner of the connecting socket is what the kernel says.
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';

export interface Endpoint {
  address: string;
  port: number;
}

/** Socket states in which a connecting socket still belongs to its process (TIME_WAIT entries say uid 0). */
const LIVE_STATES = new Set(['01', '04', '05']); // ESTABLISHED, FIN_WAIT1, FIN_WAIT2

/**
 * The uid owning the socket whose local end is `peer` and whose remote end is `us`, or null when
 * the table has no live entry for it (the peer has gone, or it is not on this host).
 */
export async function tcpPeerUid(peer: Endpoint, us: Endpoint): Promise<number | null> {
  if (!isIPv4(peer.address) || !isIPv4(us.address)) return null; // the shell listens on 127.0.0.1 only
  const v4 = { local: endpointHex4(peer), remote: endpointHex4(us) };
  // An IPv6 socket can reach an IPv4 listener through a v4-mapped address; it is listed in tcp6.
  const v6 = { local: endpointHex6Mapped(peer), remote: endpointHex6Mapped(us) };
  for (const [file, want] of [
    ['/proc/net/tcp', v4],
    ['/proc/net/tcp6', v6],
  ] as const) {
    let table: string;
    try {
      table = await readFile(file, 'latin1');
    } catch {
      continue; // no IPv6 in this kernel
    }
    const uid = findUid(table, want.local, want.remote);
    if (uid !== null) return uid;
  }
  return null;
}

/** Lines: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..." with addresses as HEX:PORT. */
function findUid(table: string, local: string, remote: string): number | null {
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== local || fields[2] !== remote || !LIVE_STATES.has(fields[3] ?? '')) continue;
    const uid = Number(fields[7]);
    return Number.isInteger(uid) ? uid : null;
  }
  return null;
}

/** The kernel prints each 32-bit word of an address as it sits in memory, so each word's bytes are reversed. */
function wordHex(bytes: number[]): string {
  return [...bytes]
    .reverse()
    .map((byte) => byte.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

function portHex(port: number): string {
  return port.toString(16).padStart(4, '0').toUpperCase();
}

function endpointHex4(endpoint: Endpoint): string {
  return `${wordHex(endpoint.address.split('.').map(Number))}:${portHex(endpoint.port)}`;
}

function endpointHex6Mapped(endpoint: Endpoint): string {
  const words = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0xff, 0xff], endpoint.address.split('.').map(Number)];
  return `${words.map(wordHex).join('')}:${portHex(endpoint.port)}`;
}
