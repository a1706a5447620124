"""Register clients and their channels; URLs and secrets go in encrypted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from notifier.delivery.channels import is_plain_webhook, privacy_form
from notifier.models import Channel, Client
from notifier.runtime import Runtime
from notifier.secrets import remember_secret


def upsert_client(
    runtime: Runtime, client_id: str, data: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """Create or replace a client; return (created, its public view)."""
    with runtime.db.session() as session:
        client = session.get(Client, client_id)
        created = client is None
        if client is None:
            client = Client(id=client_id, created_at=runtime.clock())
            session.add(client)
        client.name, client.locale = data["name"], data["locale"]
        client.timezone, client.regime = data["timezone"], data["regime"]
        client.updated_at = runtime.clock()
        _replace_channels(session, runtime, client, data["channels"])
        session.flush()
        return created, client_view(client)


def _replace_channels(
    session: Session, runtime: Runtime, client: Client, wanted: list[dict[str, Any]]
) -> None:
    existing = {c.name: c for c in client.channels}
    for spec in wanted:
        remember_secret(spec["url"])
        remember_secret(spec.get("secret"))
        channel = existing.pop(spec["name"], None)
        if channel is None:
            channel = Channel(name=spec["name"])
            client.channels.append(channel)
        channel.kind = "webhook" if is_plain_webhook(spec["url"]) else "apprise"
        channel.url_encrypted = runtime.vault.seal(spec["url"])
        channel.url_display = privacy_form(spec["url"])
        # PUT replaces: a channel sent without a secret has none any more.
        secret = spec.get("secret")
        channel.secret_encrypted = runtime.vault.seal(secret) if secret else None
        channel.priority = spec["priority"]
        channel.active = True
        # Named again by the client: a channel disabled by a 410 Gone is enabled.
        channel.disabled_at = channel.disabled_reason = None
    # Channels left out are retired, not deleted: past deliveries still point at them.
    for channel in existing.values():
        channel.active = False


def client_view(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.id,
        "name": client.name,
        "locale": client.locale,
        "timezone": client.timezone,
        "regime": client.regime,
        "channels": [
            {
                "name": c.name,
                "kind": c.kind,
                "url": c.url_display,
                "priority": c.priority,
                "has_secret": c.secret_encrypted is not None,
            }
            for c in sorted(client.channels, key=lambda c: (c.priority, c.name))
            if c.active
        ],
        # Disabled by the service (the receiver answered 410 Gone); a PUT naming it enables it.
        "disabled_channels": [
            {
                "name": c.name,
                "url": c.url_display,
                "disabled_at": c.disabled_at.isoformat(),
                "reason": c.disabled_reason,
            }
            for c in sorted(client.channels, key=lambda c: c.name)
            if not c.active and c.disabled_at is not None
        ],
        "updated_at": client.updated_at.isoformat(),
    }


def get_client(runtime: Runtime, client_id: str) -> dict[str, Any] | None:
    with runtime.db.session() as session:
        client = session.get(Client, client_id)
        return None if client is None else client_view(client)
