# Many short TCP connections to one address, and the listener they go to (run outside the test
# cgroup, so only the connecting side is counted).
#   sink HOST PORT SECONDS: accepts and closes until SECONDS have passed; prints "ready" first.
#   burst HOST PORT COUNT MAX_SECONDS: connect + close (an RST: no TIME_WAIT left behind) COUNT times
#     or until MAX_SECONDS have passed; prints {"ok", "failed", "elapsed", "pid"}.
import json, os, socket, struct, sys, time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

if mode == 'sink':
    deadline = time.monotonic() + float(sys.argv[4])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(4096)
    listener.settimeout(0.5)
    print('ready', flush=True)
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.close()
elif mode == 'burst':
    count, max_seconds = int(sys.argv[4]), float(sys.argv[5])
    linger = struct.pack('ii', 1, 0)
    ok = failed = 0
    began = time.monotonic()
    while ok + failed < count and time.monotonic() - began < max_seconds:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        try:
            s.connect((host, port))
            ok += 1
        except OSError:
            failed += 1
        s.close()
    print(json.dumps({'ok': ok, 'failed': failed, 'elapsed': time.monotonic() - began, 'pid': os.getpid()}))
else:
    sys.exit(f'unknown mode {mode}')
