"""Bearer API keys with names and roles: producer, support, admin (admin may do everything)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

import notifier.api.limits as limits
from notifier.api.errors import ApiError
from notifier.keys import KeyIdentity, authenticate, key_prefix
from notifier.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

# RFC 6750 section 3: a 401 says which scheme to use, and why the token failed.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="notifier"'}
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="notifier", error="invalid_token"'}


def identify() -> KeyIdentity:
    """Return the caller's key identity, or answer 401 (429 after too many failures)."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(
            401, "unauthorized", "Send Authorization: Bearer <api key>.", headers=_CHALLENGE
        )
    limits.refuse_if_guessing()
    runtime: Runtime = current_app.extensions["notifier"]
    identity = authenticate(runtime, key)
    if identity is None:
        limits.count_failure()
        # Only the prefix: enough to match a leaked or mistyped key, useless to an attacker.
        log.warning(
            "authentication failed from %s with key prefix %r on %s %s",
            request.remote_addr,
            key_prefix(key),
            request.method,
            request.path,
        )
        raise ApiError(401, "unauthorized", "The API key is not valid.", headers=_INVALID_TOKEN)
    return identity


def require_role(*roles: str) -> Callable[[F], F]:
    """Let the view run only for a valid key whose role is listed (or admin)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            identity = identify()
            if not identity.allows(*roles):
                raise ApiError(
                    403,
                    "forbidden",
                    f"This call needs the role {' or '.join(roles)}; the key has {identity.role}.",
                )
            g.key_identity = identity
            g.actor = identity.name  # audit entries name the key ("alice"), not only its role
            return view(*args, **kwargs)

        wrapper.required_roles = roles  # type: ignore[attr-defined]  # read by the OpenAPI builder
        return cast(F, wrapper)

    return decorator
