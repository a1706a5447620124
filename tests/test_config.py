"""Settings come from NOTIFIER_* variables, with embedded defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.config import ConfigError, load_settings


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings({"NOTIFIER_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'notifier.sqlite'}"
    assert settings.embedded_broker
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_settings({"NOTIFIER_VAR_DIR": str(tmp_path)}).secret_key == settings.secret_key


def test_production_switches_and_directories(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "NOTIFIER_VAR_DIR": str(tmp_path),
            "NOTIFIER_DATABASE_URL": "postgresql://u@db/notifier",
            "NOTIFIER_BROKER_URL": "redis://127.0.0.1:6379/0",
            "NOTIFIER_TEMPLATES_DIR": "/srv/notifier/templates",
            "NOTIFIER_LOCALES_DIR": "/srv/notifier/locales",
            "NOTIFIER_HOLIDAYS": "2026-12-25, 2026-12-24",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@db/notifier"
    assert not settings.embedded_broker
    assert settings.templates_dir == Path("/srv/notifier/templates")
    assert settings.locales_dir == Path("/srv/notifier/locales")
    assert [d.isoformat() for d in settings.holidays] == ["2026-12-24", "2026-12-25"]


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("NOTIFIER_API_KEYS", "boss:ntf_secret_value_123", "NOTIFIER_API_KEYS"),
        ("NOTIFIER_DELIVERY_MAX_ATTEMPTS", "many", "NOTIFIER_DELIVERY_MAX_ATTEMPTS"),
        ("NOTIFIER_RETRY_SCHEDULE", "5,soon", "NOTIFIER_RETRY_SCHEDULE"),
        ("NOTIFIER_RETRY_SCHEDULE", "5,-3", "NOTIFIER_RETRY_SCHEDULE"),
        ("NOTIFIER_RETRY_JITTER", "2", "NOTIFIER_RETRY_JITTER"),
        ("NOTIFIER_HOLIDAYS", "25/12/2026", "NOTIFIER_HOLIDAYS"),
        ("NOTIFIER_DEFAULT_VENUE_MIC", "NYSE", "NOTIFIER_DEFAULT_VENUE_MIC"),
        ("NOTIFIER_SECRET_KEY", "too-short", "NOTIFIER_SECRET_KEY"),
        ("NOTIFIER_RATE_LIMIT_PER_KEY", "lots", "NOTIFIER_RATE_LIMIT_PER_KEY"),
        ("NOTIFIER_LOG_FORMAT", "xml", "NOTIFIER_LOG_FORMAT"),
    ],
)
def test_bad_values_name_the_variable_and_hide_the_value(
    tmp_path: Path, name: str, value: str, named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"NOTIFIER_VAR_DIR": str(tmp_path), name: value})
    assert named in str(raised.value)
    assert value not in str(raised.value)


def test_mail_sender_name_defaults_to_the_firm(tmp_path: Path) -> None:
    env = {"NOTIFIER_VAR_DIR": str(tmp_path), "NOTIFIER_FIRM_NAME": "Northwind Securities"}
    assert load_settings(env).sender_name == "Northwind Securities"
    named = load_settings(env | {"NOTIFIER_EMAIL_FROM_NAME": " Northwind Confirmations "})
    assert named.sender_name == "Northwind Confirmations"
