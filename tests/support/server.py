"""Serve a Flask app over real HTTP on 127.0.0.1, threaded, for concurrency tests."""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


class LiveServer:
    def __init__(self, app: Flask, port: int = 0) -> None:
        # A port chosen ahead lets the app's public base URL (in links it sends) point here.
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        # The default backlog of 5 turns a burst into fake 1 s latencies.
        self._server.socket.listen(128)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
