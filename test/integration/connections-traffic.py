# Traffic generators for connection-accuracy tests. Each counts the payload bytes it sent and
# received itself and prints one JSON line: {"sent": N, "received": N, ...}.
import fcntl, json, os, socket, struct, sys, tempfile, termios, threading, time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = [int(a) for a in sys.argv[4:] if a.isdigit()]
words = sys.argv[4:]
family = socket.AF_INET6 if ':' in host else socket.AF_INET
CHUNK = b'y' * 65536
totals = {'sent': 0, 'received': 0}
lock = threading.Lock()

def count(key, n):
    with lock:  # threads add concurrently; += on a dict entry is not atomic
        totals[key] += n

def connect():
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect((host, port))
    return s

def send_bytes(s, n):
    sent = 0
    while sent < n:
        sent += s.send(CHUNK[:min(n - sent, len(CHUNK))])
    return sent

def drain(s):
    got = 0
    while True:
        part = s.recv(65536)
        if not part:
            return got
        got += len(part)

def header(letter, size):
    return ('%s%08d' % (letter, size)).encode()

def tcp(letter, size, send=0):
    s = connect()
    s.sendall(header(letter, size))
    count('sent', 9)
    if letter == 'D':
        count('received', drain(s))
    elif letter == 'U':
        count('sent', send_bytes(s, send))
        s.shutdown(socket.SHUT_WR)
        count('received', drain(s))
    elif letter == 'X':
        box = {}
        reader = threading.Thread(target=lambda: box.setdefault('got', drain(s)))
        reader.start()
        count('sent', send_bytes(s, send))
        s.shutdown(socket.SHUT_WR)
        reader.join()
        count('received', box['got'])
    elif letter == 'E':
        count('sent', send_bytes(s, size))
        count('received', drain(s))
    wait_until_acknowledged(s)
    s.close()

def wait_until_acknowledged(s, limit=5.0):
    # Bytes still queued when the app closes leave after the socket's release, past its close event
    # (a documented limit): count only what the peer acknowledged, as the kernel does.
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        queued = struct.unpack('i', fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b'\0\0\0\0'))[0]
        if queued == 0:
            return
        time.sleep(0.005)

def udp(count, size, connected):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    if connected:
        s.connect((host, port))
    payload = b'u' * size
    for _ in range(count):
        totals['sent'] += s.send(payload) if connected else s.sendto(payload, (host, port))
        try:
            totals['received'] += len(s.recv(65536))
        except socket.timeout:
            pass
    s.close()

def held(size, stop_file):
    # A first connection records the flow; the second, right after, is tallied (its connect counted
    # in the kernel, not recorded) and stays open with its bytes sent until the stop file appears.
    # Both on one CPU: the kernel tallies per CPU, and a flow's first decision on each CPU is recorded.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    tcp('E', 100)
    s = connect()
    s.sendall(header('U', 0))
    count('sent', 9 + send_bytes(s, size))
    wait_until_acknowledged(s)
    print(json.dumps({'holding': True, **totals}), flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        time.sleep(0.02)
    s.shutdown(socket.SHUT_WR)
    count('received', drain(s))
    s.close()

if mode == 'tcp-download':
    tcp('D', args[0])
elif mode == 'tcp-upload':
    tcp('U', 0, args[0])
elif mode == 'tcp-duplex':
    tcp('X', args[0], args[0])
elif mode == 'tcp-held':
    held(args[0], words[-1])
elif mode == 'tcp-many':
    for _ in range(args[0]):
        tcp('E', args[1])
elif mode == 'tcp-parallel':
    threads = [threading.Thread(target=tcp, args=('X', args[1], args[1])) for _ in range(args[0])]
    for t in threads: t.start()
    for t in threads: t.join()
elif mode == 'udp':
    udp(args[0], args[1], connected=bool(args[2]) if len(args) > 2 else True)
elif mode == 'sendfile':
    with tempfile.TemporaryFile() as f:
        f.write(b'f' * args[0]); f.flush()
        s = connect()
        s.settimeout(None)  # sendfile needs a blocking socket
        s.sendall(header('U', 0)); totals['sent'] += 9
        offset = 0
        while offset < args[0]:
            offset += os.sendfile(s.fileno(), f.fileno(), offset, args[0] - offset)
        totals['sent'] += offset
        s.shutdown(socket.SHUT_WR)
        totals['received'] += drain(s)
        s.close()
elif mode == 'splice':
    s = connect()
    s.settimeout(None)  # splice needs a blocking socket
    s.sendall(header('U', 0)); totals['sent'] += 9
    r, w = os.pipe()
    remaining = args[0]
    while remaining > 0:
        n = os.write(w, CHUNK[:min(remaining, 65536)])
        moved = 0
        while moved < n:
            moved += os.splice(r, s.fileno(), n - moved)
        remaining -= n
        totals['sent'] += n
    s.shutdown(socket.SHUT_WR)
    totals['received'] += drain(s)
    s.close()
elif mode == 'icmp':
    # A raw ICMP socket (we are root): echo requests with a payload. Counts ICMP payload (after the
    # 8-byte ICMP header) of what it sends and of every ICMP packet the socket receives.
    import struct
    v6 = family == socket.AF_INET6
    s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    count, size = args[0], args[1]
    def checksum(data):
        if len(data) % 2: data += b'\0'
        total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
        total = (total >> 16) + (total & 0xffff); total += total >> 16
        return ~total & 0xffff
    def receive_for(seconds):
        s.settimeout(0.05)
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            ihl = 0 if v6 else (data[0] & 0x0f) * 4  # raw IPv4 sockets deliver the IP header, IPv6 ones do not
            totals['received'] += max(0, len(data) - ihl - 8)
    for seq in range(count):
        body = b'p' * size
        kind = 128 if v6 else 8
        packet = struct.pack('!BBHHH', kind, 0, 0, 0x4242, seq) + body
        if not v6:  # the kernel fills the ICMPv6 checksum
            packet = struct.pack('!BBHHH', kind, 0, checksum(packet), 0x4242, seq) + body
        s.sendto(packet, (host, 0))
        totals['sent'] += size
        receive_for(0.02)
    receive_for(0.3)
    s.close()
elif mode == 'short-lived':
    # Hundreds of processes that each send one datagram, wait for its echo and exit at once (exit
    # status 0 when the echo came back whole); the parent only spawns and counts.
    import subprocess
    count, size = args[0], args[1]
    code = ('import socket,sys;s=socket.socket(%s,socket.SOCK_DGRAM);s.settimeout(2);s.sendto(b"s"*%d,(%r,%d));'
            'sys.exit(0 if len(s.recv(65536))==%d else 1)') % ('socket.AF_INET6' if family == socket.AF_INET6 else 'socket.AF_INET', size, host, port, size)
    procs = []
    def reap():
        for p in procs:
            totals['received'] += size if p.wait() == 0 else 0
        procs.clear()
    for i in range(count):
        procs.append(subprocess.Popen([sys.executable, '-S', '-c', code]))
        totals['sent'] += size
        if len(procs) >= 16:
            reap()
    reap()
elif mode == 'child':
    # The app starts a child: a shell running another executable (the system python), which the kernel counts for the app.
    import subprocess
    out = subprocess.run(['/bin/sh', '-c', '"$0" "$1" tcp-download "$2" "$3" "$4"', '/usr/bin/python3.11', sys.argv[0], host, str(port), str(args[0])], capture_output=True, text=True, check=True)
    child = json.loads(out.stdout)
    totals['sent'], totals['received'] = child['sent'], child['received']
    totals['childPid'] = child['pid']
elif mode == 'resolve-connect':
    # Asks the DNS server at HOST:PORT for NAME (an A query over UDP, as a stub resolver does),
    # then connects to the answer's address on TCP_PORT and downloads SIZE bytes.
    import struct, errno
    name, tcp_port, size = words[0], int(words[1]), int(words[2])
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.settimeout(3)
    question = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0' + struct.pack('!HH', 1, 1)
    q.sendto(struct.pack('!HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0) + question, (host, port))
    response = q.recv(512)
    totals['resolved'] = socket.inet_ntoa(response[-4:])
    time.sleep(float(words[3]) / 1000 if len(words) > 3 else 0)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((totals['resolved'], tcp_port))
        s.sendall(('D%08d' % size).encode()); totals['sent'] += 9
        totals['received'] += drain(s)
        totals['outcome'] = 'ok'
    except OSError as e:
        totals['outcome'] = errno.errorcode.get(e.errno, str(e.errno))
elif mode == 'resolve':
    # Asks the DNS server at HOST:PORT for each NAME (an A query from a socket of its own, as a
    # stub resolver does) and prints how many answers each response carried.
    import struct
    counts = []
    for i, name in enumerate(words):
        q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        q.settimeout(3)
        question = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0' + struct.pack('!HH', 1, 1)
        q.sendto(struct.pack('!HHHHHH', 0x5000 + i, 0x0100, 1, 0, 0, 0) + question, (host, port))
        counts.append(struct.unpack('!H', q.recv(512)[6:8])[0])
        q.close()
    totals['answers'] = counts
elif mode == 'dns-listen':
    # A UDP socket on HOST that, when NAME is given, first asks the DNS server at SERVER:53 for it;
    # prints its port, then counts what it receives until nothing came for 5 s (after the first
    # datagram, which it waits 30 s for; 90 s at most). Its query's id is 0x6161.
    import struct
    server, name = (words[0], words[1]) if len(words) > 1 else (None, None)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    if name:
        s.settimeout(3)
        question = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0' + struct.pack('!HH', 1, 1)
        s.sendto(struct.pack('!HHHHHH', 0x6161, 0x0100, 1, 0, 0, 0) + question, (server, 53))
        s.recv(512)
    print(json.dumps({'port': s.getsockname()[1]}), flush=True)
    received, deadline = 0, time.monotonic() + 90
    while time.monotonic() < deadline:
        s.settimeout(5.0 if received else 30.0)
        try:
            s.recv(2048)
            received += 1
        except socket.timeout:
            break
    totals['received'] = received
elif mode == 'serve':
    # The app as a server: listens on HOST:PORT, accepts CONNECTIONS clients, sends each SIZE bytes
    # and reads what they send until they close.
    connections, size = args[0], args[1]
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(16)
    print('listening', flush=True)
    server.settimeout(20)
    for _ in range(connections):
        conn, _ = server.accept()
        conn.settimeout(20)
        count('sent', send_bytes(conn, size))
        conn.shutdown(socket.SHUT_WR)
        count('received', drain(conn))
        conn.close()
    server.close()
else:
    raise SystemExit('unknown mode ' + mode)

totals['pid'] = os.getpid()
print(json.dumps(totals), flush=True)
