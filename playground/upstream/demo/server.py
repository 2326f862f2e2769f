"""A small threaded WSGI server on loopback, for tests and tools that need real HTTP.

Each request gets its own daemon thread, so a deliberately slow answer never holds up the
others. An app can ask for the connection to be cut (no answer, or half a body) by raising
``DropConnection``; the server then closes the socket without writing anything more, which
is what a client sees when a real upstream or proxy falls over.
"""

import sys
import threading
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import IO, Any, Self, cast
from wsgiref.handlers import SimpleHandler
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import WSGIApplication


class DropConnection(Exception):
    """Raised by a WSGI app (before or while sending its body) to cut the connection."""


class _Handler(SimpleHandler):
    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DropConnection):
            self.close()
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        # socketserver types wfile as BufferedIOBase; wsgiref only ever calls write() and flush() on it.
        wfile = cast(IO[bytes], self.wfile)
        handler = _Handler(
            self.rfile, wfile, self.get_stderr(), self.get_environ(), multithread=True, multiprocess=False
        )
        handler.request_handler = self  # type: ignore[attr-defined]  # wsgiref logs through this back-pointer
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines on stderr would drown test output; tests read StandIn.calls instead.
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes a burst of parallel clients wait a second for SYN retries.
    request_queue_size = 128
    # A thread sleeping in a delayed fault must not hold up stop().
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client going away mid-answer is routine here (timeouts are tested on purpose).
        pass


class RunningServer:
    def __init__(self, server: _ThreadingServer, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{server.server_port}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(app: WSGIApplication, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving ``app`` in a background thread; port 0 picks a free port."""
    server = _ThreadingServer((host, port), _RequestHandler)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return RunningServer(server, thread, host)
