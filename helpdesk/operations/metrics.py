"""A small metrics registry on prometheus-client, for `GET /metrics`.

Two kinds of values:

- **From the database**, read at each scrape, for what must be the same whichever process is
  asked (open tickets, outbox backlog): `gauge_query(name, help, statement)`, where the
  statement's last column is the value and any columns before it are label values. A new
  capability adds its gauge with one line in the composition root, e.g.

      rt.metrics.gauge_query("helpdesk_holding_queue", "Tickets waiting for an agent",
                             select(func.count()).select_from(Held))

- **Of this process**, kept in memory (messages it took in, intake latency, its chat sockets):
  the prometheus-client objects in `local`, or `gauge_callback` for a value read when scraped.
  With several processes, scrape each one (Prometheus sums them: `sum(rate(...))`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Select

from helpdesk.storage.database import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class _QueryGauge:
    name: str
    documentation: str
    statement: Select[*tuple[Any, ...]]
    labels: Sequence[str]


Read = Callable[[], dict[tuple[str, ...], float]]


class _Callbacks(Collector):
    def __init__(self) -> None:
        self.gauges: list[tuple[str, str, Sequence[str], Read]] = []

    def collect(self) -> list[GaugeMetricFamily]:
        families = []
        for name, documentation, labels, read in self.gauges:
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for label_values, value in read().items():
                family.add_metric(list(label_values), value)
            families.append(family)
        return families


class Metrics:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queries: list[_QueryGauge] = []
        self._callbacks = _Callbacks()
        self.local = CollectorRegistry(auto_describe=True)
        self.local.register(self._callbacks)
        self.messages_in = Counter(
            "helpdesk_messages_received",
            "Customer messages this process stored, by channel (duplicates not counted)",
            ["channel"],
            registry=self.local,
        )
        self.intake_seconds = Histogram(
            "helpdesk_intake_seconds",
            "From a message's arrival at intake to its commit, in this process",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.local,
        )

    def gauge_query(
        self,
        name: str,
        documentation: str,
        statement: Select[*tuple[Any, ...]],
        labels: Sequence[str] = (),
    ) -> None:
        """A gauge read from the database at each scrape (one statement, all its rows)."""
        self._queries.append(_QueryGauge(name, documentation, statement, tuple(labels)))

    def gauge_callback(
        self,
        name: str,
        documentation: str,
        read: Read,
        labels: Sequence[str] = (),
    ) -> None:
        """A gauge of this process, read from memory at each scrape."""
        self._callbacks.gauges.append((name, documentation, tuple(labels), read))

    def observe_intake(self, channel: str, seconds: float, stored: bool) -> None:
        self.intake_seconds.labels(channel).observe(seconds)
        if stored:
            self.messages_in.labels(channel).inc()

    async def exposition(self) -> bytes:
        """The text Prometheus reads: database gauges, then this process's values."""
        snapshot = CollectorRegistry(auto_describe=False)
        families = []
        async with self._db.read() as session:
            for gauge in self._queries:
                family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
                for row in (await session.execute(gauge.statement)).all():
                    family.add_metric([str(v) for v in row[:-1]], self._number(row[-1]))
                families.append(family)
        snapshot.register(_Fixed(families))
        return generate_latest(snapshot) + generate_latest(self.local)

    def _number(self, value: object) -> float:
        """A timestamp is shown as its age in seconds (how long something has waited)."""
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return max(0.0, (self._db.clock.now() - value).total_seconds())
        return float(value or 0)  # type: ignore[arg-type]


class _Fixed(Collector):
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families
