"""The notice-kind registry is the one list of kinds, each with one plan builder (issue 11,
Done-when 3).

A registered kind without a template folder (every format) or a sample, or a template folder
no kind is registered for, fails here before it can fail in a client's inbox.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from notifier.api.schemas.support import NOTICE_KINDS
from notifier.config import PROJECT_ROOT
from notifier.notices import kinds
from notifier.notices.kinds import BUILDERS, CONFIRMING_KINDS, KINDS
from notifier.rendering.renderer import FORMATS
from tests.support import samples

TEMPLATES = PROJECT_ROOT / "templates"
# Folders that hold shared pieces or support's own texts, not a notice kind.
NOT_KINDS = {"layouts", "partials", "support", "pages"}


def test_every_registered_kind_has_its_templates() -> None:
    missing = [
        f"{name}/{fmt}"
        for name in KINDS
        for fmt in FORMATS
        if not (TEMPLATES / name / fmt).is_file()
    ]
    assert not missing, f"registered kinds without templates: {missing}"


def test_every_template_folder_is_a_registered_kind() -> None:
    folders = {p.name for p in TEMPLATES.iterdir() if p.is_dir()} - NOT_KINDS
    assert folders - set(KINDS) == set(), "template folders with no registered kind"


def test_every_registered_kind_has_a_sample() -> None:
    sampled = {kind for kind, _variant in samples.all_samples()}
    assert set(KINDS) - sampled == set(), "registered kinds without a sample context"
    assert sampled - set(KINDS) == set(), "samples of kinds nobody registered"


def test_the_api_and_the_rules_derive_from_the_registry() -> None:
    assert set(NOTICE_KINDS) == set(KINDS)
    assert set(CONFIRMING_KINDS) == {n for n, k in KINDS.items() if k.confirming}
    assert {k.audience for k in KINDS.values()} <= {"client", "support"}


# --- one builder per kind, and plans built nowhere else ---------------------------------

PACKAGE = PROJECT_ROOT / "notifier"
KINDS_MODULE = PACKAGE / "notices" / "kinds.py"


def test_every_registered_kind_has_exactly_one_builder() -> None:
    # A dict holds one builder per key; this says no kind lacks one and none is extra.
    assert set(BUILDERS) == set(KINDS)
    assert all(callable(builder) for builder in BUILDERS.values())


def test_every_builder_in_kinds_is_a_registered_kinds_builder() -> None:
    """A function in notices/kinds.py that returns a plan is some kind's builder (or the
    copy of a notice of any kind): no second builder for a kind hides beside the first."""
    returning_plans = {
        name
        for name, fn in inspect.getmembers(kinds, inspect.isfunction)
        if fn.__module__ == kinds.__name__
        and inspect.signature(fn).return_annotation in ("NoticePlan", kinds.NoticePlan)
    }
    registered = {builder.__name__ for builder in BUILDERS.values()}
    assert returning_plans - registered == {"copy_plan", "status_plan"}
    assert registered <= returning_plans


def _plans_built_in(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "NoticePlan"
    ]


def test_plans_are_built_only_in_notices_kinds() -> None:
    """Rules decide what happens; only notices/kinds.py builds the plan."""
    elsewhere = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != KINDS_MODULE and (lines := _plans_built_in(path))
    }
    assert elsewhere == {}, f"NoticePlan built outside notices/kinds.py: {elsewhere}"
    assert _plans_built_in(KINDS_MODULE), "the check must see the builders it guards"
