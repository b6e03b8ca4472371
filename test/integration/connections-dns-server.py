# A tiny authoritative DNS responder for tests. Runs in a test netns or on a test veth address,
# never on the host's resolver port. It answers every A query with one address and a TTL, except:
#   alias.NAME     a CNAME chain to edge.cdn-NAME, then the address
#   forever.NAME   the address with the largest TTL the wire allows (2^31 - 1 s)
#   many-N.NAME    25 addresses, 127.77.N.1 to 127.77.N.25 (loopback: probing them leaves no host)
# Usage: connections-dns-server.py BIND_ADDR ANSWER_ADDR TTL
import socket, struct, sys

bind, answer, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3])

def encode_name(name):
    return b''.join(bytes([len(label)]) + label.encode() for label in name.split('.') if label) + b'\0'

def question_end(message):
    at = 12
    while message[at] != 0:
        at += message[at] + 1
    return at + 5

def a_record(owner, seconds, address):
    return owner + struct.pack('!HHIH', 1, 1, seconds, 4) + socket.inet_aton(address)

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((bind, 53))
print('ready', flush=True)
while True:
    query, peer = server.recvfrom(512)
    end = question_end(query)
    labels, at = [], 12
    while query[at] != 0:
        labels.append(query[at + 1:at + 1 + query[at]].decode()); at += query[at] + 1
    name = '.'.join(labels)
    answers = []
    owner = b'\xc0\x0c'  # pointer to the question name
    if name.startswith('alias.'):
        target = 'edge.cdn-' + name[len('alias.'):]
        answers.append(owner + struct.pack('!HHIH', 5, 1, ttl, len(encode_name(target))) + encode_name(target))
        owner = encode_name(target)
    if name.startswith('many-'):
        block = int(labels[0][len('many-'):])
        answers += [a_record(owner, ttl, '127.77.%d.%d' % (block, host)) for host in range(1, 26)]
    elif name.startswith('forever.'):
        answers.append(a_record(owner, 0x7fffffff, answer))
    else:
        answers.append(a_record(owner, ttl, answer))
    header = query[:2] + struct.pack('!HHHHH', 0x8180, 1, len(answers), 0, 0)
    server.sendto(header + query[12:end] + b''.join(answers), peer)
