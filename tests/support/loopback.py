"""One base for every server the tests run on 127.0.0.1 (the fake Runtime API, the apps): a
listener, an accept thread, one thread per connection, and a `stop()` that never hangs.

A subclass implements `serve(sock, client_port, conn_id)` for one accepted connection and waits
on `stopping` wherever it blocks, so `stop()` is prompt. `listen_after_s` binds the port at once
but listens only later (connects are refused until then); `restart()` drops every connection and
listens again on the same port (clients then hold stale pooled sockets).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable

from .http11 import listen_socket, quiet_shutdown, rst_close


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers started elsewhere)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

class LoopbackServer:
    """Listen/accept/stop scaffolding; use as a context manager (`with Server(...) as s:`)."""

    name = "loopback"

    def __init__(self, port: int = 0, *, listen_after_s: float = 0.0) -> None:
        self.listen_after_s = listen_after_s
        self._listener = listen_socket(port, listen=False)
        self.port: int = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_at: float | None = None
        """monotonic time listen() was called."""
        self.stopping = threading.Event()
        self._cv = threading.Condition()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._next_conn_id = 0
        self._started = False
        self._accept_thread: threading.Thread | None = None

    def serve(self, sock: socket.socket, client_port: int, conn_id: int) -> None:
        """Serve one connection until it ends; the base closes and forgets it afterwards."""
        raise NotImplementedError

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> Any:
        """Listen (now, or after `listen_after_s`) and accept in a thread. Idempotent."""
        if not self._started:
            self._started = True
            if self.listen_after_s <= 0:  # listening before start() returns: no race for callers
                self._listen(self._listener)
            self._accept_thread = self.spawn(self._accept_loop, self._listener, self.listen_after_s)
        return self

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, shut every connection, end waiting handlers, join threads. Idempotent."""
        self.stopping.set()
        with self._cv:
            self._cv.notify_all()
        self._close_all(rst=False)
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    def restart(self, *, rst: bool = False, timeout: float = 5.0) -> None:
        """Close the listener and all open connections (FIN, or RST with rst=True), then listen
        again on the same port: clients holding pooled keep-alive sockets now hold stale ones."""
        self._close_all(rst=rst)
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        self._listener = listen_socket(self.port, listen=False)
        self._listen(self._listener)
        self._accept_thread = self.spawn(self._accept_loop, self._listener, 0.0)

    def spawn(self, target: Callable[..., None], *args: object) -> threading.Thread:
        """A daemon thread named after this server, joined by `stop()`."""
        t = threading.Thread(target=target, args=args, daemon=True, name=f"{self.name}-{self.port}")
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return t

    # ---- internals ------------------------------------------------------------------------

    def _close_all(self, *, rst: bool) -> None:
        quiet_shutdown(self._listener)
        self._listener.close()
        with self._cv:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            if rst:
                rst_close(c)
            else:
                quiet_shutdown(c)

    def _listen(self, listener: socket.socket) -> None:
        listener.listen(128)
        with self._cv:
            self.ready_at = time.monotonic()
            self._cv.notify_all()

    def _accept_loop(self, listener: socket.socket, delay: float) -> None:
        if delay > 0:
            if self.stopping.wait(delay):
                return
            try:
                self._listen(listener)
            except OSError:
                return
        while not self.stopping.is_set():
            try:
                sock, addr = listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cv:
                if self.stopping.is_set() or listener.fileno() == -1:  # stopped or restarted
                    sock.close()
                    return
                self._conns.add(sock)
                self._next_conn_id += 1
                conn_id = self._next_conn_id
            self.spawn(self._serve_and_close, sock, addr[1], conn_id)

    def _serve_and_close(self, sock: socket.socket, client_port: int, conn_id: int) -> None:
        try:
            self.serve(sock, client_port, conn_id)
        finally:
            with self._cv:
                self._conns.discard(sock)
            sock.close()
