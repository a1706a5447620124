"""The notice-kind registry is the one list of kinds (issue 11, Done-when 3).

A registered kind without a template folder (every format) or a sample, or a template folder
no kind is registered for, fails here before it can fail in a client's inbox.
"""

from __future__ import annotations

from notifier.api.schemas.support import NOTICE_KINDS
from notifier.config import PROJECT_ROOT
from notifier.notices.kinds import CONFIRMING_KINDS, KINDS
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
