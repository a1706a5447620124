"""The ``notifier`` command: database, API keys, catalogs, running, replay."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from notifier.config import PROJECT_ROOT, load_settings

if TYPE_CHECKING:
    from notifier.runtime import Runtime


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


def _key_runtime() -> Runtime:
    from notifier.runtime import Runtime

    return Runtime.from_settings(load_settings())


@keys.command("create")
@click.option("--role", type=click.Choice(["producer", "support", "admin"]), required=True)
@click.option("--name", required=True, help="Who the key is for, e.g. 'alice' or 'oms-prod'.")
def keys_create(role: str, name: str) -> None:
    """Create an API key and print it once."""
    from notifier.keys import KeyError_, create_key

    runtime = _key_runtime()
    try:
        click.echo(create_key(runtime, name, role))
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.db.dispose()


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Show revoked keys too.")
def keys_list(include_revoked: bool) -> None:
    """List keys by name, role and prefix (never the key itself)."""
    from notifier.keys import list_keys

    runtime = _key_runtime()
    try:
        records = list_keys(runtime, include_revoked)
    finally:
        runtime.db.dispose()
    click.echo(f"{'NAME':<24} {'ROLE':<9} {'PREFIX':<9} {'SOURCE':<9} {'CREATED':<20} REVOKED")
    for r in records:
        created = "-" if r.source == "bootstrap" else r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        revoked = r.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if r.revoked_at else "-"
        click.echo(f"{r.name:<24} {r.role:<9} {r.prefix:<9} {r.source:<9} {created:<20} {revoked}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key called NAME; it is refused from the next request on."""
    from notifier.keys import KeyError_, revoke_key

    runtime = _key_runtime()
    try:
        role = revoke_key(runtime, name)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.db.dispose()
    click.echo(f"revoked {name} ({role})")


@keys.command("rotate")
@click.argument("name")
def keys_rotate(name: str) -> None:
    """Revoke the key called NAME and print its replacement (same name and role) once."""
    from notifier.keys import KeyError_, rotate_key

    runtime = _key_runtime()
    try:
        click.echo(rotate_key(runtime, name))
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.db.dispose()


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


@main.command("web")
def web() -> None:
    """Serve the HTTP API (waitress): NOTIFIER_BIND, WEB_PROCESSES (2), WEB_THREADS (8)."""
    from notifier.api.serve import main as serve_main

    serve_main()


@main.command("run")
def run() -> None:
    """Start web, worker and beat from the Procfile (embedded defaults unless configured)."""
    from notifier.config import ConfigError
    from notifier.db import Database

    try:
        settings = load_settings()
    except ConfigError as exc:
        # The message names the variable and the rule; the value (maybe a key) stays out.
        raise click.ClickException(str(exc)) from None
    database = Database(settings.database_url)
    database.upgrade()
    database.dispose()
    os.chdir(PROJECT_ROOT)
    # The Procfile names waitress-serve and celery; find them next to this interpreter even
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


if __name__ == "__main__":
    main()
