// DNS forgery as the tests play it: Python that writes one-question A messages, and a forger that,
// as nobody in a user and network namespace of its own (where it is root), runs a "resolver" on a
// real resolver's address and answers its own query: what any local user can do without privileges.

/** Python defining query(name, id) and answer(query, address, ttl=60): one-question A messages. */
export const DNS_PY = `
import json, socket, struct, sys, time
def query(name, id):
    labels = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.'))
    return struct.pack('!HHHHHH', id, 0x0100, 1, 0, 0, 0) + labels + b'\\0' + struct.pack('!HH', 1, 1)
def answer(q, address, ttl=60):
    return q[:2] + struct.pack('!HHHHH', 0x8180, 1, 1, 0, 0) + q[12:] + b'\\xc0\\x0c' + struct.pack('!HHIH', 1, 1, ttl, 4) + socket.inet_aton(address)
`;

/**
 * The command that forges from an unprivileged namespace: it asks `resolver` (an address it gives its
 * own loopback) for `name`, answers itself with `address` and prints the address it received.
 */
export function namespaceForgerCommand(python: string, resolver: string, name: string, address: string): string[] {
  const script = `${DNS_PY}
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); server.bind((${JSON.stringify(resolver)}, 53))
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); client.settimeout(3)
client.sendto(query(${JSON.stringify(name)}, 0x4444), (${JSON.stringify(resolver)}, 53))
data, peer = server.recvfrom(512)
server.sendto(answer(data, ${JSON.stringify(address)}, 3600), peer)
print(socket.inet_ntoa(client.recv(512)[-4:]))
`;
  return [
    'setpriv',
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    'unshare',
    '-Urn',
    'sh',
    '-c',
    `ip link set lo up && ip addr add ${resolver}/32 dev lo && exec ${python} -c "$0"`,
    script,
  ];
}
