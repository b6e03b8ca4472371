# A list server for the subscription tests, run in a test network namespace. It serves the files of
# a directory with an ETag and Last-Modified and answers 304 to a matching If-None-Match. A file
# NAME.mode next to NAME makes it misbehave: "500", "truncate" (a body shorter than its
# Content-Length), "huge" (declares 200 MB), "huge-chunked" (streams without a length until the
# client hangs up, at most 300 MB). Prints one line per request: METHOD PATH STATUS.
import hashlib, os, sys, time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def done(self, status):
        print(f'GET {self.path} {status}', flush=True)

    def do_GET(self):
        name = os.path.basename(self.path)
        path = os.path.join(ROOT, name)
        mode = ''
        if os.path.exists(path + '.mode'):
            with open(path + '.mode') as f:
                mode = f.read().strip()
        if mode == '500':
            body = b'internal trouble\n'
            self.send_response(500)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return self.done(500)
        if mode == 'huge':
            self.send_response(200)
            self.send_header('Content-Length', str(200 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b'10.0.0.1\n' * 1000)
            self.close_connection = True
            return self.done('200 huge')
        if mode == 'huge-chunked':
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            block = b'10.0.0.1\n' * 7000
            sent = 0
            try:
                while sent < 300 * 1024 * 1024:
                    self.wfile.write(b'%x\r\n%s\r\n' % (len(block), block))
                    sent += len(block)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return self.done(f'200 chunked {sent}')
        if not os.path.exists(path):
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return self.done(404)
        with open(path, 'rb') as f:
            body = f.read()
        etag = '"%s"' % hashlib.sha1(body).hexdigest()
        if self.headers.get('If-None-Match') == etag:
            self.send_response(304)
            self.send_header('ETag', etag)
            self.end_headers()
            return self.done(304)
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('ETag', etag)
        self.send_header('Last-Modified', formatdate(os.path.getmtime(path), usegmt=True))
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if mode == 'truncate':
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return self.done('200 truncated')
        self.wfile.write(body)
        self.done(200)


server = ThreadingHTTPServer((HOST, PORT), Handler)
print('ready', flush=True)
server.serve_forever()
