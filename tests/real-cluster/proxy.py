"""A loopback TCP proxy that adds latency, for measuring kubectl and the tool over a slow link.

`Proxy(target_port, rtt_ms)` listens on a free 127.0.0.1 port (`.port`) and forwards every
connection to 127.0.0.1:target_port (the API server's). Bytes pass through untouched: TLS stays
end to end, and since the API server's certificate names IP 127.0.0.1 a kubeconfig whose server
is `https://127.0.0.1:<proxy port>` verifies as the direct one does
(`Cluster.proxied_kubeconfig`).

The delay is a latency, not a throughput cap: a chunk read at time t is written at t + rtt/2,
in order, however many chunks are in flight; a link of any RTT carries a watch's stream as fast
as the server sends it. The TCP handshake's round trip, which happens in the kernel before the
proxy sees the connection, is modelled by holding the client's first bytes until one RTT after
the accept (so a client that writes at once reaches the server 1.5 RTT after connecting, as
over a real link). EOF and half-closes pass through (shutdown(SHUT_WR) on the other side once
the bytes before it are written); a reset or write error on either side closes both. Threads:
one accept thread, and per connection one reader and one writer per direction. `close()` stops
accepting and closes every connection; the proxy is also a context manager.

Command line (for a shell): `python3 proxy.py TARGET_PORT RTT_MS` prints the port and runs until
SIGINT/SIGTERM.
"""

import collections
import signal
import socket
import sys
import threading
import time

CHUNK = 65536


class _Direction:
    """Bytes from `src` to `dst`, each chunk written `delay` seconds after it was read."""

    def __init__(self, conn, src, dst, delay, not_before):
        self.conn, self.src, self.dst, self.delay = conn, src, dst, delay
        self.not_before = not_before  # nothing is sent on before this (the handshake's RTT)
        self.queue = collections.deque()
        self.ready = threading.Condition()
        self.done = False

    def read_loop(self):
        while True:
            try:
                data = self.src.recv(CHUNK)
            except OSError:
                data = None  # reset, or the proxy closed the socket: treated as EOF
            with self.ready:
                self.queue.append((max(time.monotonic(), self.not_before) + self.delay, data or None))
                self.ready.notify()
            if not data:
                return

    def write_loop(self):
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, data = self.queue.popleft()
            wait = due - time.monotonic()
            if wait > 0 and self.conn.closing.wait(wait):
                return
            if self.conn.closing.is_set():
                return
            try:
                if data is None:
                    self.dst.shutdown(socket.SHUT_WR)
                else:
                    self.dst.sendall(data)
            except OSError:
                self.conn.close()
                return
            if data is None:
                self.done = True
                self.conn.direction_done()
                return


class _Connection:
    """One proxied connection: the client's socket, the upstream one, two directions."""

    def __init__(self, proxy, client, upstream, half_rtt, accepted_at):
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.up = _Direction(self, client, upstream, half_rtt, accepted_at + 2 * half_rtt)
        self.down = _Direction(self, upstream, client, half_rtt, 0.0)
        self.threads = [threading.Thread(target=fn, daemon=True, name=f"proxy-{proxy.port}-{i}")
                        for i, fn in enumerate((self.up.read_loop, self.up.write_loop, self.down.read_loop, self.down.write_loop))]

    def start(self):
        for t in self.threads:
            t.start()

    def direction_done(self):
        if self.up.done and self.down.done:
            self.close()

    def close(self):
        with self.lock:
            if self.closing.is_set():
                return
            self.closing.set()
        for d in (self.up, self.down):
            with d.ready:
                d.queue.append((0.0, None))  # wake a writer waiting for data
                d.ready.notify()
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the readers blocked in recv
            except OSError:
                pass
            s.close()
        self.proxy._forget(self)


class Proxy:
    """Forward 127.0.0.1:<.port> to 127.0.0.1:target_port with `rtt_ms` of round-trip latency."""

    def __init__(self, target_port, rtt_ms, host="127.0.0.1"):
        self.target = (host, target_port)
        self.rtt_ms = rtt_ms
        self.half_rtt = rtt_ms / 2000.0
        self.connections = set()
        self.lock = threading.Lock()
        self.closed = False
        self.accepted = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"proxy-{self.port}")
        self.thread.start()

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            accepted_at = time.monotonic()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the server is down: the client sees the connection closed
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on top of ours
            conn = _Connection(self, client, upstream, self.half_rtt, accepted_at)
            with self.lock:
                if self.closed:
                    client.close()
                    upstream.close()
                    return
                self.connections.add(conn)
                self.accepted += 1
            conn.start()

    def _forget(self, conn):
        with self.lock:
            self.connections.discard(conn)

    def open_connections(self):
        with self.lock:
            return len(self.connections)

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            conns = list(self.connections)
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for c in conns:
            c.close()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    proxy = Proxy(int(argv[0]), float(argv[1]))
    print(proxy.port, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
