"""One JSON error envelope for every failure: {"error": {code, message, fields}}."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any, NoReturn

from flask import Flask, Response, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

MAX_FIELD_NAME = 100


class ApiError(Exception):
    """An error the client can act on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "fields": fields or {}}}), status


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into {"trade.fees.0.amount": [...]}."""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": messages}
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            # An unknown field's name is the client's text: keep it, but not 200 kB of it.
            part = str(key) if len(str(key)) <= MAX_FIELD_NAME else str(key)[:MAX_FIELD_NAME] + "…"
            name = (
                prefix if key == "_schema" and prefix else (f"{prefix}.{part}" if prefix else part)
            )
            for field, problems in flatten(value, name).items():
                out.setdefault(field, []).extend(problems)
    elif isinstance(messages, list):
        for problem in messages:
            for field, problems in flatten(problem, prefix).items():
                out.setdefault(field, []).extend(problems)
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


class _Refused(ValueError):
    """JSON that parses but that we refuse; the message is safe to show."""


def _reject_constant(name: str) -> NoReturn:
    raise _Refused("NaN and Infinity are not numbers JSON allows")


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; another parser may keep the first.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("an object repeats a key")
    return obj


def read_json() -> dict[str, Any]:
    """Return the request body as a dict; numbers come back as Decimal, never float."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(
            raw,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_repeated_keys,
        )
    except json.JSONDecodeError as exc:
        # exc.msg names the problem, never the text around it (which may hold secrets).
        raise ApiError(
            400,
            "malformed_json",
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
        ) from None
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "The body is not valid UTF-8.") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "The body is nested too deeply.") from None
    except _Refused as exc:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON: {exc}.") from None
    except ValueError:  # Python refuses integers of 4,300+ digits
        raise ApiError(400, "malformed_json", "The body has a number that is too long.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return data


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", "The request has invalid fields.", flatten(exc.messages)
        ) from None
    return loaded


def is_path_id(value: str, max_len: int = 128) -> bool:
    """Say whether an id from the URL could name a row (no control characters, not too long)."""
    return 1 <= len(value) <= max_len and value.isprintable()


def is_row_id(value: int) -> bool:
    """Say whether an integer id from the URL fits the id columns (32-bit, positive)."""
    return 1 <= value <= 2**31 - 1


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        response, status = error_response(exc.status, exc.code, exc.message, exc.fields)
        response.headers.update(exc.headers)
        return response, status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if status == 413:
            message = "The request body is larger than this service accepts."
        response, status = error_response(status, code, message)
        # Keep what the exception says about the protocol, e.g. Allow on a 405 (RFC 9110).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "Something went wrong on our side; nothing you sent was lost."
        )
