"""Sample the RSS of notifier's processes while something else puts load on them (issue 8).

    .venv/bin/python bench/peak_rss.py --seconds 60 &   # then run the load, e.g. peer-ratio

Every 0.2 s it reads /proc for processes whose command line is the Procfile's web
(`notifier web`, or waitress-serve … notifier.api.app) or a Celery worker of
notifier.worker.app, and prints, per process, peak and last RSS in MiB (a Celery worker
is one parent and its pool processes; each is listed).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("notifier.api.app" in cmd and "waitress" in cmd) or cmd.endswith("notifier web "):
            found[int(entry.name)] = "web"
        elif "notifier.worker.app" in cmd and " worker" in cmd:
            found[int(entry.name)] = "worker"
        elif "notifier.worker.app" in cmd and " beat" in cmd:
            found[int(entry.name)] = "beat"
    return found


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    peak: dict[tuple[str, int], float] = {}
    last: dict[tuple[str, int], float] = {}
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for pid, role in _processes().items():
            rss = _rss_mib(pid)
            if rss:
                key = (role, pid)
                peak[key] = max(peak.get(key, 0.0), rss)
                last[key] = rss
        time.sleep(0.2)
    for (role, pid), rss in sorted(peak.items()):
        print(f"{role:7} pid {pid:7}  peak {rss:6.1f} MiB  last {last[role, pid]:6.1f} MiB")


if __name__ == "__main__":
    main()
