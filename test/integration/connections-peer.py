# The far end for connection-accuracy tests: a TCP server and a UDP echo server on one address.
# It runs outside the test cgroup (or in a test netns), so only the generator's side is counted.
# TCP: the client's first 9 bytes are a mode letter and a size (8 decimal digits):
#   D: send size bytes, close.  U: read to EOF, close.  X: send size bytes while reading to EOF.
#   E: read size bytes, echo them back, close.
import socket, sys, threading

host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
CHUNK = b'x' * 65536

def read_exact(conn, n):
    data = b''
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            break
        data += part
    return data

def send_bytes(conn, n):
    while n > 0:
        n -= conn.send(CHUNK[:min(n, len(CHUNK))])

def drain(conn):
    while conn.recv(65536):
        pass

def serve(conn):
    try:
        header = read_exact(conn, 9)
        mode, size = header[:1], int(header[1:] or b'0')
        if mode == b'D':
            send_bytes(conn, size)
        elif mode == b'U':
            drain(conn)
        elif mode == b'X':
            reader = threading.Thread(target=drain, args=(conn,))
            reader.start()
            send_bytes(conn, size)
            conn.shutdown(socket.SHUT_WR)
            reader.join()
        elif mode == b'E':
            conn.sendall(read_exact(conn, size))
    except OSError:
        pass
    finally:
        conn.close()

def tcp():
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(512)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()

def udp():
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((host, port))
    while True:
        data, peer = server.recvfrom(65536)
        server.sendto(data, peer)

threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
