"""The OpenAPI 3.1 document, built from the marshmallow schemas the views load with.

Every ``/v1`` view carries a :func:`documented` description; :func:`build_spec` refuses
to build when one does not (tests/test_openapi.py checks it), so a new route cannot ship
undocumented. apispec (with its marshmallow plugin) turns the schemas into JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from flask_swagger_ui import get_swaggerui_blueprint
from marshmallow import Schema

from notifier.api.schemas import events as event_schemas
from notifier.api.schemas.responses import ErrorSchema

F = TypeVar("F", bound=Callable[..., Any])
SPEC_PATH = "/v1/openapi.json"
_ERROR_TEXT = {
    400: "The body is not valid JSON",
    401: "No API key, or one that is not valid",
    403: "The key's role may not make this call",
    404: "No such resource",
    409: "Conflicts with the resource's state",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "A field is invalid; error.fields names it",
    429: "Too many requests; wait Retry-After seconds",
}


@dataclass(frozen=True)
class Doc:
    summary: str
    tag: str
    ok: dict[int, type[Schema]]
    query: type[Schema] | None = None
    body: type[Schema] | Schema | dict[str, Any] | None = None
    errors: tuple[int, ...] = field(default=())
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


def documented(
    summary: str,
    *,
    tag: str,
    ok: dict[int, type[Schema]],
    query: type[Schema] | None = None,
    body: type[Schema] | Schema | dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
    links: dict[str, dict[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Describe a ``/v1`` view for the OpenAPI document (401/403/429 are added for all).

    ``links`` (OpenAPI link objects by name) say which call can follow a success, e.g.
    the notice a posted event created; schemathesis' stateful phase follows them.
    """

    def decorator(view: F) -> F:
        view.__openapi__ = Doc(summary, tag, ok, query, body, errors, links or {})  # type: ignore[attr-defined]  # read by build_spec
        return view

    return decorator


class UndocumentedRoute(RuntimeError):
    """A /v1 route has no @documented description."""


_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


# Path ids are printable text; the document promises printable ASCII without "/" (and
# not starting with "."), a subset the server accepts, so every generated id is valid.
_PATH_ID = r"^[ -\-0-~][ -.0-~]*$"


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []
    for converter, name in _CONVERTER.findall(rule):
        if converter == "int":
            schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
        else:
            schema = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": _PATH_ID}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(r"{\2}", rule), params


def _operation(
    doc: Doc, path_params: list[dict[str, Any]], roles: tuple[str, ...], operation_id: str
) -> dict[str, Any]:
    responses: dict[str | int, Any] = {
        str(status): {"description": "No content"}
        if status == 204  # an empty answer has no media type
        else {"description": "OK", "content": {"application/json": {"schema": schema}}}
        for status, schema in doc.ok.items()
    }
    if doc.links:
        for answer in responses.values():
            answer["links"] = doc.links
    codes = {401, 403, 429, *doc.errors}
    if path_params:
        codes |= {404, 422}
    if doc.query is not None:
        codes.add(422)
    if doc.body is not None:
        codes |= {400, 413, 415, 422}
    for status in sorted(codes):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": doc.summary,
        "tags": [doc.tag],
        "description": f"Roles: {', '.join(roles)} (admin may make every call).",
        "parameters": list(path_params),
        "responses": responses,
        "security": [{"bearerAuth": []}],
    }
    if doc.query is not None:
        operation["parameters"].append({"in": "query", "schema": doc.query})
    if doc.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": doc.body}},
        }
    return operation


def build_spec(app: Flask) -> dict[str, Any]:
    """Return the OpenAPI document for every /v1 route; raise if one is undocumented."""
    ma = MarshmallowPlugin()
    spec = APISpec(
        title="notifier",
        version="1",
        openapi_version="3.1.0",
        plugins=[ma],
        info={"description": "Client notifications for Layer-1 / Layer-2 trade finality."},
    )
    _map_custom_fields(ma)
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("FinalityEvent", schema=event_schemas.FinalityEventSchema)
    for status, text in _ERROR_TEXT.items():
        spec.components.response(
            f"Error{status}",
            {"description": text, "content": {"application/json": {"schema": "Error"}}},
        )
    missing: list[str] = []
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or rule.rule == SPEC_PATH:
            continue
        view = app.view_functions[rule.endpoint]
        doc: Doc | None = getattr(view, "__openapi__", None)
        if doc is None:
            missing.append(f"{sorted(rule.methods or [])} {rule.rule}")
            continue
        path, params = _path_and_params(rule.rule)
        roles = getattr(view, "required_roles", ())
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                doc, params, roles, view.__name__
            )
    if missing:
        raise UndocumentedRoute("undocumented /v1 routes: " + ", ".join(missing))
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    document: dict[str, Any] = _ecma_patterns(spec.to_dict())
    return document


def _ecma_patterns(node: Any) -> Any:
    """Rewrite Python ``fullmatch`` patterns (``…\\Z``) as JSON Schema (ECMA 262) ones."""
    if isinstance(node, dict):
        out = {k: _ecma_patterns(v) for k, v in node.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("\\Z"):
            out["pattern"] = "^" + pattern.removesuffix("\\Z") + "$"
        return out
    if isinstance(node, list):
        return [_ecma_patterns(v) for v in node]
    return node


def event_body() -> dict[str, Any]:
    """POST /v1/events' body: one variant per type, with the sections it needs and refuses.

    What JSON Schema cannot say is left to the server's 422: amounts that must add up
    (gross = quantity * unit_price, net = gross +/- charges) and times that must be in order.
    """
    variants = []
    for kind, required in event_schemas._REQUIRES.items():
        variants.append(
            {
                "allOf": [
                    {"$ref": "#/components/schemas/FinalityEvent"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": kind},
                            **dict.fromkeys(event_schemas._FORBIDS[kind], False),
                        },
                        "required": list(required),
                    },
                ]
            }
        )
    return {"oneOf": variants}


def _map_custom_fields(ma: MarshmallowPlugin) -> None:
    # The event schema's own field types: tell apispec what JSON they take.
    # (apispec leaves this method unannotated.)
    ma.map_to_openapi_type(event_schemas.DecimalString, "string", None)  # type: ignore[no-untyped-call]
    ma.map_to_openapi_type(event_schemas.Timestamp, "string", "date-time")  # type: ignore[no-untyped-call]
    ma.map_to_openapi_type(event_schemas.Day, "string", "date")  # type: ignore[no-untyped-call]


def register_openapi(app: Flask) -> None:
    """Serve the document at /v1/openapi.json and Swagger UI (vendored assets) at /docs."""
    bp = Blueprint("openapi", __name__)

    @bp.get(SPEC_PATH)
    def openapi_json() -> Response:
        spec = current_app.extensions.get("notifier_openapi")
        if spec is None:
            spec = current_app.extensions["notifier_openapi"] = build_spec(current_app)
        return jsonify(spec)

    app.register_blueprint(bp)
    app.register_blueprint(
        get_swaggerui_blueprint("/docs", SPEC_PATH, config={"app_name": "notifier API"}),
        url_prefix="/docs",
    )
