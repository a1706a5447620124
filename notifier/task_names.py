"""The Celery task names: the wire names the broker carries, written once.

The web process sends tasks by name (it never imports the worker), the worker registers
them and beat schedules them; all three read these. The values are the wire contract with
messages already queued: renaming one strands them.
"""

from __future__ import annotations

PROCESS_NOTICES = "notifier.tasks.process_notices"
DELIVER = "notifier.tasks.deliver"
RELAY = "notifier.tasks.relay"
FAN_OUT = "notifier.tasks.fan_out"
CHECK_DEADLINES = "notifier.tasks.check_deadlines"
