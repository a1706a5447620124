"""The ``notifier`` command: database, API keys, catalogs, running, replay."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from notifier.config import PROJECT_ROOT, load_settings


@click.group()
def main() -> None:
    """Run and administer the notifier service."""


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    from notifier.db import Database

    database = Database(load_settings().database_url)
    database.upgrade()
    database.dispose()
    click.echo("database is at the newest schema")


@main.group()
def keys() -> None:
    """Manage API keys (stored hashed; shown once on creation)."""


@keys.command("create")
@click.option("--role", type=click.Choice(["producer", "support", "admin"]), required=True)
@click.option("--name", required=True, help="Who the key is for, e.g. 'oms-prod'.")
def keys_create(role: str, name: str) -> None:
    """Create an API key and print it once."""
    from notifier.db import Database
    from notifier.models import ApiKey
    from notifier.secrets import hash_api_key, new_api_key

    key = new_api_key()
    database = Database(load_settings().database_url)
    with database.session() as session:
        session.add(ApiKey(name=name, role=role, key_hash=hash_api_key(key)))
    database.dispose()
    click.echo(key)


@main.group()
def i18n() -> None:
    """Manage the translation catalogs under locales/."""


# The support console (views and templates): its messages go to a catalog domain of its own.
CONSOLE_SOURCES = Path(__file__).resolve().parent.parent / "api" / "console"


@i18n.command("extract")
def i18n_extract() -> None:
    """Extract messages from templates/ (messages.pot) and the console's (console.pot)."""
    from notifier.rendering.catalogs import CONSOLE_DOMAIN, extract_catalog

    settings = load_settings()
    mapping = PROJECT_ROOT / "babel.cfg"
    path = extract_catalog(settings.templates_dir, mapping, settings.locales_dir)
    click.echo(f"extracted {path}")
    console_mapping = PROJECT_ROOT / "babel-console.cfg"
    path = extract_catalog(CONSOLE_SOURCES, console_mapping, settings.locales_dir, CONSOLE_DOMAIN)
    click.echo(f"extracted {path}")


@i18n.command("update")
def i18n_update() -> None:
    """Merge each .pot into each locale's .po (messages and console), keeping translations."""
    from notifier.rendering.catalogs import CONSOLE_DOMAIN, DOMAIN, update_catalogs

    for domain in (DOMAIN, CONSOLE_DOMAIN):
        for path in update_catalogs(load_settings().locales_dir, domain=domain):
            click.echo(f"updated {path}")


@i18n.command("compile")
def i18n_compile() -> None:
    """Compile every locales/*/LC_MESSAGES/*.po (messages and console) to .mo."""
    from notifier.rendering.catalogs import CONSOLE_DOMAIN, DOMAIN, compile_catalogs

    for domain in (DOMAIN, CONSOLE_DOMAIN):
        for path in compile_catalogs(load_settings().locales_dir, domain):
            click.echo(f"compiled {path}")


@main.command("run")
def run() -> None:
    """Start web, worker and beat from the Procfile (embedded defaults unless configured)."""
    from notifier.db import Database

    settings = load_settings()
    database = Database(settings.database_url)
    database.upgrade()
    database.dispose()
    os.chdir(PROJECT_ROOT)
    # The Procfile names gunicorn and celery; find them next to this interpreter even
    # when the virtualenv is not activated (e.g. `.venv/bin/notifier run`).
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(p for p in (bin_dir, path) if p)
    os.execvp(  # noqa: S606  # replaces this process with honcho; arguments are ours, no shell
        sys.executable,
        [sys.executable, "-m", "honcho", "start", "-f", str(Path(PROJECT_ROOT) / "Procfile")],
    )


@main.command("replay")
@click.argument("log_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here instead of standard output.",
)
@click.option(
    "--database-url",
    default=None,
    help="Replay into this (empty) database instead of a temporary SQLite file.",
)
def replay(log_file: Path, out: Path | None, database_url: str | None) -> None:
    """Feed an event log through the intake with a fixed clock; print a stable report."""
    from notifier.tools.replay import ReplayError, replay_file

    try:
        report = replay_file(log_file, database_url)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    if out is None:
        click.echo(report, nl=False)
    else:
        out.write_text(report)
