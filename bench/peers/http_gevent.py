# http_gevent.py PORT BODY_BYTES: gevent's WSGIServer serving BODY_BYTES of 'x'.
# TCP_NODELAY on each connection: pywsgi sends the head and the body in
# separate writes, which without it wait out the client's delayed ACK
# (40 ms) on every keep-alive request.
import socket
import sys
from gevent.pywsgi import WSGIHandler, WSGIServer

body = b"x" * int(sys.argv[2])


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class NoDelayHandler(WSGIHandler):
    def __init__(self, sock, address, server, rfile=None):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)


WSGIServer(("127.0.0.1", int(sys.argv[1])), app, log=None, handler_class=NoDelayHandler).serve_forever()
