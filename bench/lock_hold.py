"""Sum who held SQLite's write lock, from files written under NOTIFIER_LOCK_STATS (issue 8).

Every write transaction of every process holds one lock (docs/architecture.md, "One
writer at a time"), so the time held per event is the ceiling on throughput. Run the
service with ``NOTIFIER_LOCK_STATS=<empty dir>`` in its environment (every process
appends one line per write transaction: wall ms, the thread's CPU ms, the notifier code
that opened it), put load on it, then:

    .venv/bin/python bench/lock_hold.py <dir> [--events N]

It prints, per opener, transactions, total / mean wall ms held and mean CPU ms inside;
with --events, the held ms per event.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--events", type=int, default=0, help="events the load posted")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    held: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for path in args.directory.glob("hold.*"):
        for line in path.read_text().splitlines():
            wall, cpu, opener = line.split("\t", 2)
            # The innermost three notifier frames name the transaction well enough.
            key = " < ".join(opener.split(" < ")[:3])
            row = held[key]
            row[0] += 1
            row[1] += float(wall)
            row[2] += float(cpu)
    total = sum(row[1] for row in held.values())
    print(
        f"write lock held {total / 1000:.2f} s in {sum(r[0] for r in held.values()):.0f} "
        "transactions" + (f"; {total / args.events:.2f} ms per event" if args.events else "")
    )
    print(f"  {'n':>6} {'held ms':>9} {'mean':>6} {'cpu':>6}  opened by")
    for key, (n, wall, cpu) in sorted(held.items(), key=lambda kv: -kv[1][1])[: args.top]:
        print(f"  {n:6.0f} {wall:9.0f} {wall / n:6.2f} {cpu / n:6.2f}  {key}")


if __name__ == "__main__":
    main()
