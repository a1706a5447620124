"""Task names are written once (notifier/task_names.py) and never change on the wire:
messages already queued under a name are stranded if it is renamed."""

from __future__ import annotations

from notifier import task_names
from notifier.worker import tasks


def test_the_wire_names_stay() -> None:
    assert task_names.PROCESS_NOTICES == "notifier.tasks.process_notices"
    assert task_names.DELIVER == "notifier.tasks.deliver"
    assert task_names.RELAY == "notifier.tasks.relay"
    assert task_names.CHECK_DEADLINES == "notifier.tasks.check_deadlines"


def test_the_worker_registers_each_name_it_is_sent() -> None:
    registered = {
        tasks.process_notices.name,
        tasks.deliver.name,
        tasks.relay.name,
        tasks.check_deadlines.name,
    }
    assert registered == {
        task_names.PROCESS_NOTICES,
        task_names.DELIVER,
        task_names.RELAY,
        task_names.CHECK_DEADLINES,
    }
