"""HTTP caching on reads: a strong ETag from the body, and 304 when the client has it.

``Cache-Control: private, no-cache`` lets a browser or the console keep a copy but makes it
ask every time; the answer is then a cheap 304 until the resource changes state.
"""

from __future__ import annotations

from typing import cast

from flask import Flask, Response, request

CACHED_PREFIXES = ("/v1/notices", "/v1/events", "/v1/clients", "/v1/batches")


def register_etags(app: Flask) -> None:
    @app.after_request
    def _etag(response: Response) -> Response:
        if (
            request.method not in {"GET", "HEAD"}
            or response.status_code != 200
            or not request.path.startswith(CACHED_PREFIXES)
            or response.direct_passthrough
        ):
            return response
        response.headers["Cache-Control"] = "private, no-cache"
        response.add_etag()
        # make_conditional returns the same object (now maybe a 304), typed as werkzeug's.
        return cast(Response, response.make_conditional(request))
