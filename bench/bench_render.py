"""Measure ``Renderer.render`` alone: CPU milliseconds per notice, per kind and locale.

The worker benchmark (bench_worker.py) times rendering in wall time inside the whole
pipeline; on this shared 2-core machine that moves with the neighbours' load. This one
renders the test samples (all four formats, as the worker does) in one process, after a
warm-up, and reports the median of the CPU time (``time.process_time``) of rounds of
``--per-round`` renders. Nothing is written anywhere.

    .venv/bin/python bench/bench_render.py [--rounds 30] [--per-round 20] [--profile cumulative]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from notifier.rendering.renderer import Renderer  # noqa: E402
from tests.support import samples  # noqa: E402  # the same contexts the tests render

# (kind, variant, locale, timezone): the worker benchmark's notice first.
CASES = [
    ("confirmation_l1", "final", "en_US", "America/New_York"),
    ("confirmation_l2", "final", "de", "Europe/Berlin"),
    ("confirmation_l2", "provisional", "ja", "Asia/Tokyo"),
    ("reversal", "batch_failed", "fr", "Europe/Paris"),
    ("escalation", "batch_failed", "en", "Europe/London"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds per case (30)")
    parser.add_argument("--per-round", type=int, default=20, help="renders per round (20)")
    parser.add_argument("--profile", metavar="SORT", help="profile instead, sorted by SORT")
    parser.add_argument("--profile-lines", type=int, default=40)
    args = parser.parse_args(argv)

    renderer = Renderer(ROOT / "templates", ROOT / "locales")
    contexts = samples.all_samples()
    for kind, variant, locale, zone in CASES:  # warm-up: compile, load catalogs
        renderer.render(kind, contexts[kind, variant], locale, zone)

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for kind, variant, locale, zone in CASES:
            for _ in range(args.per_round * 5):
                renderer.render(kind, contexts[kind, variant], locale, zone)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.profile).print_stats(args.profile_lines)
        return 0

    print(f"render benchmark — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    print(
        f"  machine  {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load avg {os.getloadavg()[0]:.2f}"
    )
    print(f"  median CPU ms per notice over {args.rounds} rounds of {args.per_round} renders")
    medians = []
    for kind, variant, locale, zone in CASES:
        context = contexts[kind, variant]
        rounds = []
        for _ in range(args.rounds):
            start = time.process_time()
            for _ in range(args.per_round):
                renderer.render(kind, context, locale, zone)
            rounds.append((time.process_time() - start) / args.per_round * 1000)
        median = statistics.median(rounds)
        medians.append(median)
        print(f"  {kind + '/' + variant:32s} {locale:6s} {median:6.3f} ms")
    print(f"  {'mean of the medians':39s} {statistics.mean(medians):6.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
