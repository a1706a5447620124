"""Canned responses and escalation templates for support, filled in with a notice's facts.

They live in ``templates/support/*.txt`` (one file each, a ``{#- title: … -#}`` first line
names it; files starting ``escalation_`` are escalations, the rest canned responses) and
render in a sandboxed Jinja2 environment: a support text is edited by people, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from notifier.models import Client, Notice
from notifier.runtime import Runtime

_TITLE = re.compile(r"\{#-?\s*title:\s*(.+?)\s*-?#\}")


@dataclass(frozen=True)
class SupportText:
    name: str
    title: str
    kind: str  # "canned" (to the client) or "escalation" (to the desk that must act)
    body: str


def support_folder(runtime: Runtime) -> Path:
    return runtime.settings.templates_dir / "support"


def fill_support_texts(runtime: Runtime, notice_id: int) -> list[SupportText]:
    """Render every support text with this notice's facts; [] when the notice is unknown."""
    folder = support_folder(runtime)
    if not folder.is_dir():
        return []
    with runtime.db.session() as session:
        notice = session.get(Notice, notice_id)
        if notice is None:
            return []
        client = session.get(Client, notice.client_id)
        facts = _facts(runtime, notice, client)
    env = SandboxedEnvironment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,  # a fact the text needs and lacks is an error, not a gap
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    texts = []
    for path in sorted(folder.glob("*.txt")):
        match = _TITLE.search(path.read_text(encoding="utf-8"))
        kind = "escalation" if path.name.startswith("escalation_") else "canned"
        try:
            body = env.get_template(path.name).render(facts).strip()
        except TemplateError as exc:
            # One broken file must not take the notice page down; say which and why.
            body = f"[{path.name} cannot be filled in: {exc}]"
        texts.append(SupportText(path.stem, match.group(1) if match else path.stem, kind, body))
    return texts


def _facts(runtime: Runtime, notice: Notice, client: Client | None) -> dict[str, Any]:
    """What a support text may print: the notice, its deliveries, client and firm."""
    return {
        "notice": {
            "id": notice.id,
            "kind": notice.kind,
            "variant": notice.variant or "",
            "status": notice.status,
            "subject": notice.subject or "",
            "trade_id": notice.trade_id or "",
            "batch_id": notice.batch_id or "",
            "created_at": notice.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "deadline_at": (
                notice.deadline_at.strftime("%Y-%m-%d %H:%M UTC") if notice.deadline_at else ""
            ),
            "event_id": notice.event.event_id if notice.event else "",
        },
        "deliveries": [
            {
                "channel": d.target,
                "status": d.status,
                "attempts": d.attempt_count,
                "last_error": d.last_error or "",
            }
            for d in notice.deliveries
        ],
        "client": {
            "id": notice.client_id,
            "name": client.name if client else notice.client_id,
            "locale": notice.locale,
        },
        "firm_name": runtime.settings.firm_name,
        "support_url": runtime.settings.support_url,
    }
