"""Replay an event log through the real intake and worker code, with a fixed clock.

Each line of the log is one JSON object:

- ``{"client": {"client_id": ..., "name": ..., "locale": ..., "timezone": ..., "regime": ...}}``
  registers a client (through the same schema as ``PUT /v1/clients``); without
  ``channels`` it gets one signed-webhook channel to the replay's local sink;
- ``{"clock": "2026-11-24T15:00:00Z"}`` sets the clock;
- ``{"check_deadlines": true}`` runs the deadline check at the current clock;
- ``{"show": "bodies"}`` adds every notice's text body to the report, ``{"show": "state"}``
  each trade's and batch's state (so a scenario can show *what* a notice says);
- anything else is a finality event, validated by the API's schema (an invalid one is
  reported as rejected, with the fields the 422 would name) and accepted by the intake;
  its notices then run through the Celery task the worker runs, in process.

Blank lines and lines starting with ``#`` are skipped. The report lists every event's
outcome and every notice per client with kind, status, subject and a digest of its bodies;
it names no database ids, times of the run or random values, so a replay is reproducible.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.api.app import create_app
from notifier.api.schemas.clients import ClientSchema
from notifier.api.schemas.events import FinalityEventSchema
from notifier.config import Settings, load_settings
from notifier.intake.accept import EventConflict, accept_event
from notifier.intake.clients import upsert_client
from notifier.models import Batch, Delivery, FinalityEvent, Notice, TradeState
from notifier.notices.escalation import escalate_at_risk
from notifier.runtime import Runtime
from notifier.worker.relay import find_due_work

REPLAY_SECRET_KEY = base64.urlsafe_b64encode(b"notifier-replay-fixed-key-32byte").decode()
SINK_SECRET = "whsec_" + base64.b64encode(b"notifier-replay-sink-key").decode()
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class ReplayError(ValueError):
    """A line of the log cannot be replayed; the message names the line."""


@dataclass
class FixedClock:
    """A clock that moves only when the log says so (or an event occurs later)."""

    now: datetime = DEFAULT_START

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment.astimezone(UTC))


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        return


@contextmanager
def local_sink() -> Iterator[str]:
    """Run an HTTP receiver on 127.0.0.1 that accepts every delivery; yield its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/replay-sink"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class _Replay:
    runtime: Runtime
    clock: FixedClock
    sink_url: str
    events: list[str] = field(default_factory=list)
    show: set[str] = field(default_factory=set)

    def client(self, data: dict[str, Any]) -> None:
        data = dict(data)
        client_id = str(data.pop("client_id"))
        data.setdefault("channels", [{"name": "sink", "url": "sink"}])
        for channel in data["channels"]:
            if channel.get("url") == "sink":
                channel.update(url=self.sink_url, secret=SINK_SECRET)
        upsert_client(self.runtime, client_id, ClientSchema().load(data))

    def event(self, data: dict[str, Any]) -> None:
        schema = FinalityEventSchema(
            amount_tolerance=self.runtime.settings.amount_tolerance_minor_units
        )
        try:
            loaded = schema.load(data)
        except ValidationError as exc:
            fields = ", ".join(sorted(_dotted(exc.messages)))
            self.events.append(f"{data.get('event_id')}  rejected (422): {fields}")
            return
        self.clock.advance_to(loaded["occurred_at"])
        try:
            result = accept_event(self.runtime, schema.dump(loaded), actor="replay")
        except EventConflict:
            self.events.append(f"{data['event_id']}  conflict: same event_id, another body")
            return
        answer = result.response
        line = f"{answer['event_id']}  {data['type']}  {answer['status']}"
        if answer.get("reason"):
            line += f"  ({answer['reason']})"
        if not result.created:
            line += "  [repeat: original answer]"
        self.events.append(line)
        self.work(result.notice_ids)

    def work(self, notice_ids: list[int]) -> None:
        """Run the worker's task on the notices, then the relay until nothing is due."""
        from notifier.worker import tasks

        if notice_ids:
            tasks.process_notices(notice_ids)  # the worker's task, run in this process
        # Follow-ups (escalations) the task would hand to the broker are found by the
        # relay, exactly as after a broker outage; the grace period is 0 here.
        for _ in range(100):
            due = find_due_work(self.runtime)
            if not due.notice_ids and not due.delivery_ids:
                return
            if due.notice_ids:
                tasks.process_notices(due.notice_ids)
            for delivery_id in due.delivery_ids:
                tasks.deliver(delivery_id)
        raise ReplayError("work still due after 100 relay rounds")

    def check_deadlines(self) -> None:
        created = escalate_at_risk(self.runtime)
        self.events.append(
            f"check_deadlines at {self.clock.now.isoformat()}: {len(created)} escalation(s)"
        )
        self.work(created)


def _dotted(messages: Any, prefix: str = "") -> list[str]:
    if not isinstance(messages, dict):
        return [prefix.rstrip(".")]
    return [name for key, inner in messages.items() for name in _dotted(inner, f"{prefix}{key}.")]


def _digest(notice: Notice) -> str:
    joined = "\x1e".join([notice.body_text or "", notice.body_html or "", notice.body_md or ""])
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def _report(runtime: Runtime, replay: _Replay) -> str:
    lines = ["# notifier replay report", "", "## events"]
    lines += [f"- {line}" for line in replay.events]
    with runtime.db.session() as session:
        notices = session.scalars(select(Notice).order_by(Notice.id)).all()
        refs = {n.id: f"N{i + 1}" for i, n in enumerate(notices)}
        by_client: dict[str, list[Notice]] = {}
        for notice in notices:
            by_client.setdefault(notice.client_id, []).append(notice)
        for client_id in sorted(by_client):
            lines += ["", f"## {client_id}"]
            for notice in by_client[client_id]:
                kind = notice.kind + (f"/{notice.variant}" if notice.variant else "")
                sent = session.scalars(
                    select(Delivery.status).where(Delivery.notice_id == notice.id)
                ).all()
                extra = f" replaces {refs[notice.supersedes_id]}" if notice.supersedes_id else ""
                lines.append(
                    f"- {refs[notice.id]} {kind} [{notice.status}; deliveries "
                    f"{','.join(sent) or 'none'}]{extra} trade={notice.trade_id or '-'} "
                    f"locale={notice.locale}"
                )
                lines.append(f"  subject: {notice.subject}")
                lines.append(f"  body: sha256:{_digest(notice)}")
        if "bodies" in replay.show:
            lines += _bodies(notices, refs)
        if "state" in replay.show:
            lines += _state(session)
        counts = session.scalars(select(FinalityEvent.status).order_by(FinalityEvent.id)).all()
    lines += ["", f"events: {len(counts)}  notices: {len(notices)}", ""]
    return "\n".join(lines)


def _bodies(notices: Sequence[Notice], refs: dict[int, str]) -> list[str]:
    lines = ["", "## bodies"]
    for notice in notices:
        lines += ["", f"### {refs[notice.id]} {notice.kind}", "", "```"]
        lines += [line.rstrip() for line in (notice.body_text or "").strip().splitlines()]
        lines.append("```")
    return lines


def _state(session: Session) -> list[str]:
    lines = ["", "## state"]
    for trade in session.scalars(select(TradeState).order_by(TradeState.trade_id)):
        lines.append(f"- trade {trade.trade_id}: {trade.status} batch={trade.batch_id or '-'}")
    for batch in session.scalars(select(Batch).order_by(Batch.batch_id)):
        revoked = f" revoked_at={batch.revoked_at.isoformat()}" if batch.revoked_at else ""
        lines.append(f"- batch {batch.batch_id}: {batch.status}{revoked}")
    return lines


def _settings(database_url: str | None, var_dir: Path, sink_url: str) -> Settings:
    env = {
        "NOTIFIER_VAR_DIR": str(var_dir),
        "NOTIFIER_ENQUEUE": "0",
        "NOTIFIER_RELAY_GRACE_SECONDS": "0",
        "NOTIFIER_DATABASE_URL": database_url or f"sqlite:///{var_dir / 'replay.sqlite'}",
        # A fixed key (it seals only this throwaway database): the acknowledgement links in
        # the reported bodies are signed with it, and must read the same on every replay.
        "NOTIFIER_SECRET_KEY": REPLAY_SECRET_KEY,
    }
    support = f"json://{sink_url.removeprefix('http://')}"
    return replace(load_settings(env), support_channel_urls=(support,))


def replay_lines(lines: list[str], database_url: str | None = None) -> str:
    """Replay the log lines into a fresh database and return the report."""
    with tempfile.TemporaryDirectory(prefix="notifier-replay-") as tmp, local_sink() as sink:
        settings = _settings(database_url, Path(tmp), sink)
        app = create_app(settings)
        runtime: Runtime = app.extensions["notifier"]
        clock = FixedClock()
        runtime.clock = clock
        runtime.db.upgrade()
        replay = _Replay(runtime, clock, sink)
        try:
            with app.app_context():
                for number, raw in enumerate(lines, start=1):
                    _replay_line(replay, number, raw)
            return _report(runtime, replay)
        finally:
            runtime.db.dispose()


def _replay_line(replay: _Replay, number: int, raw: str) -> None:
    text = raw.strip()
    if not text or text.startswith("#"):
        return
    try:
        data = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise ReplayError(f"line {number}: not JSON ({exc})") from None
    try:
        if "client" in data:
            replay.client(data["client"])
        elif "clock" in data:
            replay.clock.advance_to(datetime.fromisoformat(data["clock"]))
        elif "check_deadlines" in data:
            replay.check_deadlines()
        elif "show" in data:
            replay.show.add(str(data["show"]))
        else:
            replay.event(data)
    except ReplayError:
        raise
    except Exception as exc:
        raise ReplayError(f"line {number}: {type(exc).__name__}: {exc}") from exc


def replay_file(path: Path, database_url: str | None = None) -> str:
    return replay_lines(path.read_text().splitlines(), database_url)
