"""A real local HTTP receiver for callbacks, with scripted answers.

    with CallbackReceiver() as hook:                # listens on 127.0.0.1:<free port>
        hook.script(500, 500, 200)                   # answers for the next requests, then 200
        ... create a task with callback_url=hook.url ...
        hook.wait_for(3, timeout=5)                  # blocks until 3 callbacks arrived
        hook.received[-1].json()

Answers are status codes or the strings ``"hang"`` (never answer until the
receiver closes), ``"slow"`` (answer 200 after ``SLOW_SECONDS``) and ``"reset"``
(drop the connection without answering).
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Answer = int | str
SLOW_SECONDS = 0.3


@dataclass(frozen=True)
class Received:
    """One callback as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackReceiver:
    """A threaded HTTP server on loopback that records every POST it gets."""

    def __init__(self, host: str = "127.0.0.1", path: str = "/hook") -> None:
        self.path = path
        self.received: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._arrived = threading.Condition()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver._record(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
                answer = receiver._next_answer()
                if answer == "hang":
                    receiver._release.wait()
                    self.close_connection = True
                elif answer == "slow":
                    receiver._release.wait(SLOW_SECONDS)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif answer == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                else:
                    self.send_response(int(answer))
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="callback-receiver", daemon=True)

    @property
    def url(self) -> str:
        """Where to point ``callback_url`` (needs ``EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS=1``)."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def script(self, *answers: Answer) -> CallbackReceiver:
        """Answer the next requests with these, in order; afterwards 200."""
        self._answers.extend(answers)
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` callbacks arrived in all; AssertionError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"expected {count} callbacks within {timeout} s, got {len(self.received)}")
            return list(self.received)

    def _record(self, item: Received) -> None:
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()

    def _next_answer(self) -> Answer:
        return self._answers.popleft() if self._answers else 200

    def start(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def close(self) -> None:
        """Release hanging answers and stop."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
