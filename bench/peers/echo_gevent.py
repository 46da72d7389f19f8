import sys
from gevent.server import StreamServer

def handle(sock, addr):
    while True:
        data = sock.recv(4096)
        if not data:
            break
        sock.sendall(data)
    sock.close()

StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=4096).serve_forever()
