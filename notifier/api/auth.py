"""Bearer API keys with roles: producer, support, admin (admin may do everything)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from sqlalchemy import select

from notifier.api.errors import ApiError
from notifier.models import ApiKey
from notifier.runtime import Runtime
from notifier.secrets import hash_api_key

F = TypeVar("F", bound=Callable[..., Any])

# RFC 6750 section 3: a 401 says which scheme to use, and why the token failed.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="notifier"'}
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="notifier", error="invalid_token"'}


def _role_for(key: str) -> str | None:
    runtime: Runtime = current_app.extensions["notifier"]
    digest = hash_api_key(key)
    for role, bootstrap_key in runtime.settings.api_keys:
        if hmac.compare_digest(hash_api_key(bootstrap_key), digest):
            return role
    with runtime.db.session() as session:
        return session.scalar(select(ApiKey.role).where(ApiKey.key_hash == digest))


def require_role(*roles: str) -> Callable[[F], F]:
    """Let the view run only for a valid key whose role is listed (or admin)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise ApiError(
                    401, "unauthorized", "Send Authorization: Bearer <api key>.", headers=_CHALLENGE
                )
            role = _role_for(key.strip())
            if role is None:
                raise ApiError(
                    401, "unauthorized", "The API key is not valid.", headers=_INVALID_TOKEN
                )
            if role != "admin" and role not in roles:
                raise ApiError(
                    403,
                    "forbidden",
                    f"This call needs the role {' or '.join(roles)}; the key has {role}.",
                )
            g.actor = f"{role}-key"
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
