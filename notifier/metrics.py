"""Prometheus metrics read from the database at scrape time.

Why not prometheus_client's multiprocess mode: the facts we count (events, notices,
deliveries, attempts) are already rows, written by gunicorn workers and Celery processes
alike. Reading them per scrape gives numbers that match the database exactly, survive
restarts and need no shared ``PROMETHEUS_MULTIPROC_DIR`` cleaned between deploys. The
cost is a handful of indexed GROUP BY queries per scrape (every 15-60 s).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from notifier import heartbeats
from notifier.models import ChannelOutage, Delivery, DeliveryAttempt, FinalityEvent, Notice
from notifier.runtime import Runtime
from notifier.states import DeliveryStatus


class DatabaseCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        with self.runtime.db.session() as session:
            events = CounterMetricFamily(
                "notifier_events",
                "Finality events accepted, by type and how they were handled",
                labels=["type", "status"],
            )
            for type_, status, n in session.execute(
                select(FinalityEvent.type, FinalityEvent.status, func.count()).group_by(
                    FinalityEvent.type, FinalityEvent.status
                )
            ):
                events.add_metric([type_, status], n)
            notices = GaugeMetricFamily(
                "notifier_notices", "Notices by kind and state", labels=["kind", "status"]
            )
            for kind, status, n in session.execute(
                select(Notice.kind, Notice.status, func.count()).group_by(
                    Notice.kind, Notice.status
                )
            ):
                notices.add_metric([kind, status], n)
            deliveries = GaugeMetricFamily(
                "notifier_deliveries", "Deliveries by state", labels=["status"]
            )
            for status, n in session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            ):
                deliveries.add_metric([status], n)
            attempts = CounterMetricFamily(
                "notifier_delivery_attempts", "Delivery attempts by outcome", labels=["outcome"]
            )
            for outcome, n in session.execute(
                select(DeliveryAttempt.outcome, func.count()).group_by(DeliveryAttempt.outcome)
            ):
                attempts.add_metric([outcome], n)
            outages = session.scalar(
                select(func.count())
                .select_from(ChannelOutage)
                .where(ChannelOutage.closed_at.is_(None))
            )
            backlog = session.scalar(
                select(func.count()).where(
                    Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]),
                    Delivery.next_attempt_at <= self.runtime.clock(),
                )
            )
        yield events
        yield notices
        yield deliveries
        yield attempts
        yield GaugeMetricFamily(
            "notifier_due_deliveries", "Deliveries due now and not yet sent", value=backlog or 0
        )
        yield GaugeMetricFamily(
            "notifier_channel_outages_open",
            "Client channels failing now (an outage opened and not closed by a success)",
            value=outages or 0,
        )
        yield self._heartbeat_ages()

    def _heartbeat_ages(self) -> Metric:
        ages = GaugeMetricFamily(
            "notifier_heartbeat_age_seconds",
            "Seconds since the worker / beat's relay last showed it was alive",
            labels=["part"],
        )
        now = self.runtime.clock()
        for name, seen in heartbeats.last_seen(self.runtime.db).items():
            ages.add_metric([name], (now - seen).total_seconds())
        return ages
