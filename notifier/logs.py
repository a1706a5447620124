"""Log output: plain text (default) or one JSON object per line (``NOTIFIER_LOG_FORMAT=json``).

Secrets are kept out by :func:`notifier.secrets.install_log_redaction`, which runs before
any record is formatted; this module only chooses the shape.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send the root logger's output through the chosen format (idempotent)."""
    root = logging.getLogger()
    if log_format == "json":
        handler = next((h for h in root.handlers if getattr(h, "notifier_json", False)), None)
        if handler is None:
            handler = logging.StreamHandler()
            handler.notifier_json = True  # type: ignore[attr-defined]  # marker against doubles
            for old in list(root.handlers):
                # Replace plain console handlers only; leave others (files, test capture) be.
                if type(old) is logging.StreamHandler:
                    root.removeHandler(old)
            root.addHandler(handler)
        handler.setFormatter(JsonFormatter())
    elif not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    root.setLevel(min(root.level or level, level))
