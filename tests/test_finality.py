"""T+N and confirmation deadlines from the venue's market calendar (docs/events.md, "T+N")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notifier.calendar import VENUES, MarketCalendars, confirmation_deadline
from notifier.config import ConfigError, load_settings
from notifier.models import Notice
from notifier.notices.contexts import with_cycle_label
from notifier.notices.views import notice_view
from notifier.runtime import Runtime
from notifier.tools.replay import replay_file


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    var_dir: Path = tmp_path_factory.mktemp("finality")
    return Runtime.from_settings(load_settings({"NOTIFIER_VAR_DIR": str(var_dir)}))


# (case, venue MIC, trade_date, final_at, producer label, expected label, mismatch flagged)
CASES: list[tuple[str, str | None, str, str, str | None, str, bool]] = [
    # The reported pair: 16:00 and 14:30 New York on the trade date are both T+0.
    (
        "same day NY to the close",
        "XNYS",
        "2026-11-23",
        "2026-11-23T16:00:00-05:00",
        None,
        "T+0",
        False,
    ),
    (
        "same day NY mid-session",
        "XNYS",
        "2026-11-23",
        "2026-11-23T14:30:00-05:00",
        None,
        "T+0",
        False,
    ),
    # The producer's offset does not matter: 21:00Z and 06:00+09:00 are 16:00 New York.
    (
        "same day NY written in UTC",
        "XNYS",
        "2026-11-23",
        "2026-11-23T21:00:00Z",
        None,
        "T+0",
        False,
    ),
    (
        "same day NY written in Tokyo time",
        "XNYS",
        "2026-11-23",
        "2026-11-24T06:00:00+09:00",
        None,
        "T+0",
        False,
    ),
    # An evening L2 batch ending 02:00 UTC is still the trade date in New York.
    ("evening batch NY", "XNAS", "2026-11-24", "2026-11-25T02:00:00Z", None, "T+0", False),
    (
        "overnight batch past NY midnight",
        "XNYS",
        "2026-11-23",
        "2026-11-24T07:00:00Z",
        None,
        "T+1",
        False,
    ),
    # Fri 20:00 → Mon 10:00: one business day, not 14 elapsed hours.
    ("weekend Fri to Mon", "XNYS", "2026-11-20", "2026-11-23T10:00:00-05:00", None, "T+1", False),
    (
        "final on a Saturday counts as Monday",
        "XNYS",
        "2026-11-20",
        "2026-11-21T03:00:00-05:00",
        None,
        "T+1",
        False,
    ),
    (
        "US holiday (Thanksgiving)",
        "XNYS",
        "2026-11-25",
        "2026-11-27T10:00:00-05:00",
        None,
        "T+1",
        False,
    ),
    (
        "Thanksgiving is a London business day",
        "XLON",
        "2026-11-25",
        "2026-11-27T10:00:00Z",
        None,
        "T+2",
        False,
    ),
    (
        "EU holiday Xetra Christmas",
        "XETR",
        "2026-12-23",
        "2026-12-28T10:00:00+01:00",
        None,
        "T+1",
        False,
    ),
    (
        "EU holiday Euronext Easter",
        "XPAR",
        "2026-04-02",
        "2026-04-07T10:00:00+02:00",
        None,
        "T+1",
        False,
    ),
    ("TARGET New Year", "XECB", "2026-12-31", "2027-01-04T10:00:00+01:00", None, "T+1", False),
    (
        "Tokyo year-end closure",
        "XTKS",
        "2026-12-30",
        "2027-01-04T10:00:00+09:00",
        None,
        "T+1",
        False,
    ),
    # trade_date is honoured: an after-hours execution booked on the next trading day.
    (
        "trade_date after hours",
        "XNYS",
        "2026-11-24",
        "2026-11-24T16:00:00-05:00",
        None,
        "T+0",
        False,
    ),
    (
        "no MIC uses the default venue",
        None,
        "2026-11-25",
        "2026-11-27T10:00:00-05:00",
        None,
        "T+1",
        False,
    ),
    (
        "unknown MIC uses the default venue",
        "ZZZZ",
        "2026-11-25",
        "2026-11-27T10:00:00-05:00",
        None,
        "T+1",
        False,
    ),
    (
        "producer label agreeing",
        "XNYS",
        "2026-11-23",
        "2026-11-24T15:00:00-05:00",
        "T+1",
        "T+1",
        False,
    ),
    (
        "producer label disagreeing",
        "XNYS",
        "2026-11-23",
        "2026-11-23T16:00:00-05:00",
        "T+0.5",
        "T+0",
        True,
    ),
    (
        "producer hours-based weekend label",
        "XNYS",
        "2026-11-20",
        "2026-11-23T10:00:00-05:00",
        "T+0.5",
        "T+1",
        True,
    ),
]


@pytest.mark.parametrize(
    ("venue", "trade_date", "final_at", "producer", "expected", "mismatch"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_t_plus_n_table(
    runtime: Runtime,
    venue: str | None,
    trade_date: str,
    final_at: str,
    producer: str | None,
    expected: str,
    mismatch: bool,
) -> None:
    trade: dict[str, Any] = {"trade_id": "T-1", "trade_date": trade_date}
    if venue:
        trade["venue_mic"] = venue
    finality: dict[str, Any] = {"layer": "L2", "status": "final", "final_at": final_at}
    if producer:
        finality["cycle_label"] = producer
    shown = with_cycle_label(finality, trade, runtime)
    assert shown["cycle_label"] == expected
    assert shown["cycle_label_mismatch"] is mismatch
    assert shown.get("producer_cycle_label") == producer
    assert shown["cycle_calendar"] == (venue if venue in VENUES else "XNYS")


def test_table_has_the_cases_the_issue_asks_for() -> None:
    assert len(CASES) >= 12
    names = " ".join(case[0] for case in CASES)
    for wanted in (
        "same day",
        "overnight",
        "weekend",
        "US holiday",
        "EU holiday",
        "agreeing",
        "disagreeing",
    ):
        assert wanted in names


def test_recomputing_keeps_the_producer_label_aside(runtime: Runtime) -> None:
    trade = {"trade_id": "T-1", "trade_date": "2026-11-23", "venue_mic": "XNYS"}
    first = with_cycle_label(
        {"final_at": "2026-11-23T16:00:00-05:00", "cycle_label": "T+0.5"}, trade, runtime
    )
    # A correction moves the trade date back a business day; the producer's label stays theirs.
    again = with_cycle_label(first, dict(trade, trade_date="2026-11-20"), runtime)
    assert (again["cycle_label"], again["producer_cycle_label"]) == ("T+1", "T+0.5")
    agreed = with_cycle_label({"final_at": "2026-11-23T16:00:00-05:00"}, trade, runtime)
    assert "producer_cycle_label" not in with_cycle_label(agreed, trade, runtime)


def test_provisional_block_is_left_alone(runtime: Runtime) -> None:
    finality = {"layer": "L2", "status": "provisional", "cycle_label": "T+0"}
    assert with_cycle_label(finality, {"trade_date": "2026-11-23"}, runtime) == finality


def test_configured_holidays_add_to_the_market_calendar() -> None:
    calendars = MarketCalendars([date(2026, 11, 24)])
    nyse = calendars.for_venue("XNYS")
    assert not nyse.is_business_day(date(2026, 11, 24))  # the extra day
    assert not nyse.is_business_day(date(2026, 11, 26))  # Thanksgiving, from the calendar
    assert nyse.business_days_after(date(2026, 11, 23), date(2026, 11, 27)) == 2


def test_default_venue_is_configurable(tmp_path: Path) -> None:
    settings = load_settings(
        {"NOTIFIER_VAR_DIR": str(tmp_path), "NOTIFIER_DEFAULT_VENUE_MIC": "XETR"}
    )
    assert MarketCalendars((), settings.default_venue_mic).for_venue(None).code == "XETR"
    with pytest.raises(ConfigError, match="NOTIFIER_DEFAULT_VENUE_MIC"):
        load_settings({"NOTIFIER_VAR_DIR": str(tmp_path), "NOTIFIER_DEFAULT_VENUE_MIC": "NYSE"})


@pytest.mark.parametrize(
    ("regime", "venue", "executed_at", "settlement_date", "deadline"),
    [
        # US: the end of the settlement date in New York.
        ("US", "XNYS", "2026-11-24T14:03:12Z", "2026-11-25", "2026-11-26T00:00:00-05:00"),
        # EU: the end of the first Xetra business day after execution (24, 25 Dec closed).
        ("EU", "XETR", "2026-12-23T10:00:00+01:00", "2026-12-28", "2026-12-29T00:00:00+01:00"),
        # EU, executed Friday 23:30 Berlin (22:30Z): the next business day is Monday.
        ("EU", "XETR", "2026-11-20T22:30:00Z", "2026-11-24", "2026-11-24T00:00:00+01:00"),
        # EU client on a US venue: Thanksgiving is skipped in the venue's calendar.
        ("EU", "XNYS", "2026-11-25T15:00:00Z", "2026-11-27", "2026-11-28T00:00:00-05:00"),
    ],
)
def test_deadlines_use_the_venue_calendar(
    regime: str, venue: str, executed_at: str, settlement_date: str, deadline: str
) -> None:
    calendar = MarketCalendars().for_venue(venue)
    got = confirmation_deadline(
        regime,
        datetime.fromisoformat(executed_at),
        date.fromisoformat(settlement_date),
        calendar,
    )
    assert got == datetime.fromisoformat(deadline)
    assert got.utcoffset() == datetime.fromisoformat(deadline).utcoffset()


def test_runtime_calendar_honours_settings(tmp_path: Path) -> None:
    settings = replace(
        load_settings({"NOTIFIER_VAR_DIR": str(tmp_path)}), holidays=(date(2026, 11, 23),)
    )
    nyse = Runtime.from_settings(settings).calendar.for_venue("XNYS")
    assert not nyse.is_business_day(date(2026, 11, 23))


# --- the replay scenarios of issue 7 (obs. 5, 6), read back from the database ----------------

SCENARIOS = Path(__file__).parent / "scenarios"
# trade → (T+N shown, producer's label, flagged) on its final confirmation
SCENARIO_LABELS = {
    "t_plus_same_day_new_york": {
        "T-SD-1": ("T+0", None, False),
        "T-SD-2": ("T+0", None, False),
        "T-SD-3": ("T+0", None, False),
    },
    "t_plus_weekend": {
        "T-WE-1": ("T+1", "T+0.5", True),
        "T-WE-2": ("T+1", "T+1", False),
        "T-WE-3": ("T+1", None, False),
    },
}


def _replayed(scenario: str, tmp_path: Path) -> tuple[Runtime, list[Notice]]:
    url = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    replay_file(SCENARIOS / f"{scenario}.jsonl", url)
    env = {"NOTIFIER_VAR_DIR": str(tmp_path), "NOTIFIER_DATABASE_URL": url}
    runtime = Runtime.from_settings(load_settings(env))
    with runtime.db.session() as session:
        notices = list(session.scalars(select(Notice).order_by(Notice.id)))
        session.expunge_all()
    return runtime, notices


@pytest.mark.parametrize("scenario", sorted(SCENARIO_LABELS))
def test_scenario_finals_carry_the_computed_label(scenario: str, tmp_path: Path) -> None:
    runtime, notices = _replayed(scenario, tmp_path)
    finals = {
        n.trade_id: n for n in notices if n.kind.startswith("confirmation") and n.variant == "final"
    }
    assert set(finals) == set(SCENARIO_LABELS[scenario])
    for trade_id, (label, producer, flagged) in SCENARIO_LABELS[scenario].items():
        notice = finals[trade_id]
        assert f"final at {label} ]" in (notice.body_text or ""), trade_id
        assert f"Settlement cycle: {label}\n" in (notice.body_text or ""), trade_id
        check = notice_view(runtime, notice.id)["finality_check"]  # type: ignore[index]
        assert check == {
            "cycle_label": label,
            "cycle_calendar": "XNYS",
            "producer_cycle_label": producer,
            "cycle_label_mismatch": flagged,
        }


def test_same_day_l2_final_settles_on_the_trade_date(tmp_path: Path) -> None:
    _, notices = _replayed("t_plus_same_day_new_york", tmp_path)
    final = next(n for n in notices if n.trade_id == "T-SD-3" and n.variant == "final")
    text = final.body_text or ""
    assert "Final at: Nov 23, 2026, 9:00:00\u202fPM EST (UTC\u221205:00)" in text
    assert "Settlement date: Nov 23, 2026" in text  # the producer sent 24 Nov (the UTC date)
    assert "Expected final by" not in text


def test_jpy_scenario_shows_no_decimals(tmp_path: Path) -> None:
    _, notices = _replayed("jpy_rounding", tmp_path)
    bodies = {n.client_id: n for n in notices if n.kind == "confirmation_l1"}
    for notice in bodies.values():
        for body in (notice.body_text, notice.body_html, notice.body_md):
            assert body and "1,518,750" in body and "1,518,750.4" not in body
            assert "1,520,361" in body and "1,520,361.1" not in body
            assert "1,611" in body  # commission and fee totalled
    assert "約定金額：￥1,518,750\n" in (bodies["tokyo"].body_text or "")  # noqa: RUF001
    assert "Gross amount: ¥1,518,750\n" in (bodies["london"].body_text or "")
