# A tiny authoritative DNS responder for tests: answers every A query with one address and a TTL,
# and a CNAME chain for names starting with "alias.". Runs in a test netns, never on the host's
# resolver port. Usage: connections-dns-server.py BIND_ADDR ANSWER_ADDR TTL
import socket, struct, sys

bind, answer, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3])

def encode_name(name):
    return b''.join(bytes([len(label)]) + label.encode() for label in name.split('.') if label) + b'\0'

def question_end(message):
    at = 12
    while message[at] != 0:
        at += message[at] + 1
    return at + 5

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
    answers.append(owner + struct.pack('!HHIH', 1, 1, ttl, 4) + socket.inet_aton(answer))
    header = query[:2] + struct.pack('!HHHHH', 0x8180, 1, len(answers), 0, 0)
    server.sendto(header + query[12:end] + b''.join(answers), peer)
