"""Delivering outbox events to hospital systems: signed webhooks and a Redis Stream.

An outcome and its events are committed together (`server/events/outbox.py`); this module gets them
out afterwards, and never drops one. The policy, in full:

* **Fan-out.** Every outbox event gets one `event_deliveries` row per configured target that
  accepts its type (a webhook may list `events`; the stream takes all). A target added later
  receives the history too, oldest first; receivers deduplicate on the event id.
* **Acknowledgement.** A webhook delivery is acknowledged by any 2xx answer (the body is not
  read for meaning); the stream by a successful XADD.
* **Retry, forever.** Anything else is retried with exponential backoff and jitter:
  `base · 2^(n-1)` capped at `cap` (1 s … 10 min by default), each delay drawn from its upper
  half so a fleet of retries spreads out without collapsing to zero. Timeouts (a receiver
  that hangs: bounded by `event_timeout_seconds`), connection errors, malformed HTTP
  (garbage), 408, 429 and 5xx follow that schedule (a `Retry-After` is honoured up to the
  cap). Redirects and other 4xx answers mean a misconfigured receiver that will not heal by
  itself: they are retried at the cap from the first failure — still forever, because a
  hospital's misconfiguration must not lose a referral.
* **Alert.** A delivery still not acknowledged when its event is older than
  `event_alert_after_hours` is flagged once (`alerted_at`): an error log line, an audit entry
  (`event.delivery_overdue`) and the `shouzhen_event_deliveries_overdue` gauge.
* **Order per consult.** A target never receives an event of a consult before every earlier
  event of that consult was acknowledged by it. Events of one consult are written under the
  consult's row lock, so their ids follow commit order; a delivery is claimable only when no
  earlier delivery of the same consult to the same target is unacknowledged (`_blocked`).
  A failing event therefore holds back the later events of its own consult — never those of
  other consults.
* **Claims.** A node claims due deliveries with `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL;
  SQLite is single-node and serialises writers) and marks them with a lease
  (`claimed_by`, `lease_until`) in the same transaction, then sends outside it. Several nodes
  on one PostgreSQL therefore never send the same delivery at once; a node that dies
  mid-send leaves a lease that expires, and another node retries (at least once, not at most
  once — hence the event id). Results are written only by the lease holder.
* **Restart.** All state is in the database: a restarted node carries on where it stopped.

Delivery scheduling runs on the wall clock (`now`), not the application's domain clock,
because retries happen in real time even when a test fixes the consult's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import os
import random
import socket
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from server.events.event_stream import EventStreamPublisher
from server.events.webhooks import OutboundEvent, event_body, signed_headers
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.config import Settings, WebhookConfig
from server.kernel.db import Database
from server.kernel.models import EventDeliveryRow, OutboxEventRow, UTCDateTime

log = logging.getLogger("shouzhen.events")

ERROR_TEXT_LIMIT = 500
LEASE_MARGIN_SECONDS = 30.0  # a lease outlives the send timeout by this much
FAN_OUT_BATCH = 500
ERROR_PAUSE_SECONDS = 5.0


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # never attempted
    RETRYING = "retrying"  # failed at least once; next_attempt_at says when it goes again
    DELIVERED = "delivered"  # acknowledged: 2xx from the webhook, XADD done on the stream


# -- the rules, as pure functions ---------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 600.0


class Verdict(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    RETRY = "retry"  # transient: the backoff schedule
    RETRY_AT_CAP = "retry_at_cap"  # the receiver refuses: only a human fixes it; retry slowly


@dataclass(frozen=True)
class AttemptResult:
    verdict: Verdict
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait


def backoff_delay(failures: int, policy: RetryPolicy, jitter: float) -> float:
    """Seconds before the next attempt after `failures` (≥1) failed ones; `jitter` in [0, 1).

    Exponential, capped, with "equal jitter": the delay is drawn from the upper half of the
    step, so retries of many events spread out but never come back immediately.
    """
    exponent = min(max(failures, 1) - 1, 62)  # 2**62 s is beyond any cap; avoids overflow
    step = min(policy.cap_seconds, policy.base_seconds * 2.0 ** exponent)
    return step / 2 + step / 2 * min(max(jitter, 0.0), 1.0)


def next_delay(result: AttemptResult, failures: int, policy: RetryPolicy,
               jitter: float) -> float:
    if result.verdict is Verdict.RETRY_AT_CAP:
        return policy.cap_seconds / 2 + policy.cap_seconds / 2 * jitter
    delay = backoff_delay(failures, policy, jitter)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.cap_seconds))
    return delay


def classify_status(status: int, retry_after: float | None = None) -> AttemptResult:
    """What an HTTP answer means for the delivery."""
    if 200 <= status < 300:
        return AttemptResult(Verdict.ACKNOWLEDGED, status)
    if status in (408, 429) or status >= 500:
        return AttemptResult(Verdict.RETRY, status, f"HTTP {status}", retry_after)
    # 1xx/3xx (redirects are not followed: a signed body goes only where configured) and
    # 4xx: the receiver will refuse again until someone fixes its configuration.
    return AttemptResult(Verdict.RETRY_AT_CAP, status, f"HTTP {status}", retry_after)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from `now`."""
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() also accepts "²" or "٣", which float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_overdue(event_created_at: datetime, delivery_created_at: datetime, now: datetime,
               alert_after: timedelta) -> bool:
    """An event is overdue when it has waited longer than `alert_after` since it was
    written — or since its delivery row was, if that is older (a skewed clock)."""
    return now - min(event_created_at, delivery_created_at) > alert_after


@dataclass(frozen=True)
class QueuedDelivery:
    outbox_id: int
    event_id: str
    consult_id: str | None
    target: str
    delivered: bool


def waiting_behind(items: Iterable[QueuedDelivery]) -> dict[tuple[str, str], str]:
    """The ordering rule as data: for each undelivered (event id, target), the event id of the
    earliest undelivered event of the same consult that it waits behind (absent: it is the
    head of its queue and may go)."""
    heads: dict[tuple[str, str], QueuedDelivery] = {}
    blocked: dict[tuple[str, str], str] = {}
    for item in sorted(items, key=lambda i: i.outbox_id):
        if item.delivered or item.consult_id is None:
            continue
        queue = (item.consult_id, item.target)
        head = heads.get(queue)
        if head is None:
            heads[queue] = item
        else:
            blocked[(item.event_id, item.target)] = head.event_id
    return blocked


def truncate(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- targets ----------------------------------------------------------------------------


class Target(Protocol):
    name: str
    event_types: frozenset[str] | None  # None: every type

    async def open(self) -> None: ...

    async def deliver(self, event: OutboundEvent, attempt: int) -> AttemptResult: ...

    async def close(self) -> None: ...


class WebhookTarget:
    """POSTs the signed JSON body; 2xx acknowledges."""

    def __init__(self, config: WebhookConfig, *, timeout: float,
                 now: Callable[[], datetime]) -> None:
        self.config = config
        self.name = config.target_name
        self.event_types = config.events
        self.timeout = timeout
        self.now = now
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def deliver(self, event: OutboundEvent, attempt: int) -> AttemptResult:
        await self.open()
        assert self.http is not None
        body = event_body(event)
        headers = signed_headers(self.config.secret, event, body,
                                 timestamp=int(self.now().timestamp()), attempt=attempt)
        try:
            async with self.http.post(self.config.url, data=body, headers=headers,
                                      allow_redirects=False) as response:
                snippet = (await response.content.read(300)).decode("utf-8", "replace")
                result = classify_status(response.status, parse_retry_after(
                    response.headers.get("Retry-After"), self.now()))
        except TimeoutError:
            return AttemptResult(Verdict.RETRY, None,
                                 f"no answer within {self.timeout:g} s (timed out)")
        except aiohttp.ClientError as error:
            # Refused connections, resets, and answers that are not HTTP at all.
            return AttemptResult(Verdict.RETRY, None,
                                 truncate(f"{type(error).__name__}: {error}"))
        if result.verdict is not Verdict.ACKNOWLEDGED and snippet.strip():
            result = AttemptResult(result.verdict, result.status_code,
                                   truncate(f"{result.error}: {snippet.strip()}"),
                                   result.retry_after)
        return result

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None


class RedisStreamTarget:
    """XADDs to the stream; a Redis error is retried like any other failure."""

    def __init__(self, redis_url: str, stream_key: str, *, timeout: float,
                 maxlen: int = 0) -> None:
        self.name = f"redis:{stream_key}"
        self.event_types: frozenset[str] | None = None
        self.redis_url, self.stream_key = redis_url, stream_key
        self.timeout, self.maxlen = timeout, maxlen
        self.publisher: EventStreamPublisher | None = None

    async def open(self) -> None:
        if self.publisher is None:
            self.publisher = EventStreamPublisher(self.redis_url, self.stream_key,
                                                  timeout=self.timeout, maxlen=self.maxlen)

    async def deliver(self, event: OutboundEvent, attempt: int) -> AttemptResult:
        await self.open()
        assert self.publisher is not None
        try:
            async with asyncio.timeout(self.timeout):
                added = await self.publisher.publish(event)
        except TimeoutError:
            return AttemptResult(Verdict.RETRY, None,
                                 f"Redis did not answer within {self.timeout:g} s")
        except Exception as error:  # redis.RedisError, OSError: Redis is down or refusing
            return AttemptResult(Verdict.RETRY, None, truncate(f"{type(error).__name__}: "
                                                               f"{error}"))
        if added.duplicate:
            log.info("event was already on the stream", extra={
                "event_id": event.event_id, "consult_id": event.consult_id,
                "entry_id": added.entry_id})
        return AttemptResult(Verdict.ACKNOWLEDGED)

    async def close(self) -> None:
        if self.publisher is not None:
            await self.publisher.close()
            self.publisher = None


def targets_from_settings(settings: Settings, now: Callable[[], datetime]) -> list[Target]:
    targets: list[Target] = [WebhookTarget(hook, timeout=settings.event_timeout_seconds,
                                           now=now) for hook in settings.webhooks]
    if settings.redis_url and settings.event_stream_key:
        targets.append(RedisStreamTarget(settings.redis_url, settings.event_stream_key,
                                         timeout=settings.event_timeout_seconds,
                                         maxlen=settings.event_stream_maxlen))
    return targets


# -- the dispatcher ---------------------------------------------------------------------


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DispatcherConfig:
    poll_seconds: float = 1.0
    batch_size: int = 20
    timeout_seconds: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    alert_after: timedelta = timedelta(hours=4)

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherConfig:
        return cls(poll_seconds=settings.event_poll_seconds,
                   timeout_seconds=settings.event_timeout_seconds,
                   retry=RetryPolicy(settings.event_retry_base_seconds,
                                     settings.event_retry_cap_seconds),
                   alert_after=timedelta(hours=settings.event_alert_after_hours))

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout_seconds + LEASE_MARGIN_SECONDS)

    @property
    def sweep_seconds(self) -> float:
        """How often to look for overdue deliveries (cheap, but not every poll)."""
        return max(self.poll_seconds * 30, 1.0)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    target: str
    attempt: int  # the number of this attempt, from 1
    event: OutboundEvent


class DeliveryMetrics:
    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, DeliveryMetrics]] = (
        weakref.WeakKeyDictionary())

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter("shouzhen_event_delivery_attempts_total",
                                "Event delivery attempts by target and result",
                                ["target", "result"], registry=registry)
        self.overdue = Gauge("shouzhen_event_deliveries_overdue",
                             "Deliveries not acknowledged past the alert threshold",
                             registry=registry)

    @classmethod
    def of(cls, registry: CollectorRegistry) -> DeliveryMetrics:
        # One application may start a dispatcher again (tests): register the metrics once.
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]


def _node_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _blocked(row: Any) -> sa.ColumnElement[bool]:
    """True when an earlier event of the same consult is not yet acknowledged by the same
    target: the per-consult order rule, in SQL (see `waiting_behind` for it as data)."""
    earlier = aliased(EventDeliveryRow)
    return sa.exists().where(earlier.target == row.target,
                             earlier.consult_id == row.consult_id,
                             earlier.outbox_id < row.outbox_id,
                             earlier.status != DeliveryStatus.DELIVERED.value)


class EventDispatcher:
    """Runs in the background of every node; any number of nodes may share one PostgreSQL."""

    def __init__(self, db: Database, targets: Sequence[Target], config: DispatcherConfig, *,
                 now: Callable[[], datetime] = wall_clock, rng: random.Random | None = None,
                 metrics: DeliveryMetrics | None = None, node_id: str | None = None) -> None:
        self.db = db
        self.targets = {t.name: t for t in targets}
        self.config = config
        self.now = now
        self.rng = rng or random.Random()
        self.metrics = metrics
        self.node_id = node_id or _node_id()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_sweep = float("-inf")

    # -- life cycle --

    async def start(self) -> None:
        for target in self.targets.values():
            await target.open()
        if self.db.is_sqlite:
            await self._release_all_leases()  # single node: any lease is a dead process's
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="event-dispatcher")
        log.info("event dispatcher started", extra={"node": self.node_id,
                                                    "targets": sorted(self.targets)})

    async def stop(self) -> None:
        """Let the pass in progress finish (bounded by the send timeout), then stop."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task),
                                       self.config.timeout_seconds + 2)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        for target in self.targets.values():
            await target.close()
        log.info("event dispatcher stopped", extra={"node": self.node_id})

    def nudge(self) -> None:
        """Look for work now (an event was retried by an admin, or just written)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = self.config.poll_seconds
            try:
                worked = await self.run_once()
            except Exception:
                # The database is unreachable or a query failed: nothing is lost (the state is
                # in the database); try again, without a log line per poll meanwhile.
                log.exception("event delivery pass failed; trying again",
                              extra={"node": self.node_id})
                worked, pause = 0, max(pause, ERROR_PAUSE_SECONDS)
            if worked == 0 and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
                self._wake.clear()

    # -- one pass --

    async def run_once(self) -> int:
        """Fan out new events, claim what is due and send it, then flag what is overdue.
        Returns the number of attempts made (0: nothing was due)."""
        if not self.targets:
            return 0
        created = await self.fan_out()
        claimed = await self.claim()
        if claimed:
            await asyncio.gather(*(self.attempt(c) for c in claimed))
        # After the attempts: an old event that goes out at the first try (a node back after
        # an outage) is not flagged; one that still fails is.
        if created or time.monotonic() - self._last_sweep >= self.config.sweep_seconds:
            await self.flag_overdue()
        return len(claimed)

    async def fan_out(self) -> int:
        """One delivery row per (event, target) not yet having one. Idempotent, and safe on
        several nodes at once (the unique key and ON CONFLICT DO NOTHING)."""
        now = self.now()
        insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        created = 0
        for target in self.targets.values():
            o, d = OutboxEventRow, EventDeliveryRow
            missing = sa.select(
                o.id, o.consult_id, sa.literal(target.name, sa.String),
                sa.literal(DeliveryStatus.PENDING.value, sa.String), sa.literal(0, sa.Integer),
                sa.literal(now, UTCDateTime), sa.literal(now, UTCDateTime),
                sa.literal(now, UTCDateTime),
            ).where(~sa.exists().where(d.outbox_id == o.id, d.target == target.name))
            if target.event_types is not None:
                missing = missing.where(o.event_type.in_(sorted(target.event_types)))
            missing = missing.order_by(o.id).limit(FAN_OUT_BATCH)
            async with self.db.reading() as session:  # the usual answer is "nothing new":
                if not (await session.execute(sa.select(missing.exists()))).scalar():
                    continue  # don't take SQLite's write lock every poll to learn it
            statement = insert(d).from_select(
                ["outbox_id", "consult_id", "target", "status", "attempts", "next_attempt_at",
                 "created_at", "updated_at"], missing).on_conflict_do_nothing()
            async with self.db.transaction() as session:
                result = await session.execute(statement)
            created += max(int(getattr(result, "rowcount", 0) or 0), 0)
        return created

    async def claim(self) -> list[Claimed]:
        now = self.now()
        d = EventDeliveryRow
        due = (
            sa.select(d.id, d.target, d.attempts, d.outbox_id)
            .where(d.status != DeliveryStatus.DELIVERED.value,
                   d.target.in_(sorted(self.targets)),
                   d.next_attempt_at <= now,
                   sa.or_(d.lease_until.is_(None), d.lease_until <= now),
                   ~_blocked(d))
            .order_by(d.next_attempt_at, d.outbox_id)
            .limit(self.config.batch_size)
            .with_for_update(skip_locked=True, of=d)
        )
        async with self.db.transaction() as session:
            rows = (await session.execute(due)).all()
            if not rows:
                return []
            await session.execute(
                sa.update(d).where(d.id.in_([r.id for r in rows]))
                .values(claimed_by=self.node_id, lease_until=now + self.config.lease,
                        updated_at=now))
            events = {e.id: e for e in (await session.scalars(sa.select(OutboxEventRow).where(
                OutboxEventRow.id.in_({r.outbox_id for r in rows})))).all()}
        return [Claimed(r.id, r.target, r.attempts + 1, _outbound(events[r.outbox_id]))
                for r in rows]

    async def attempt(self, claimed: Claimed) -> None:
        target = self.targets[claimed.target]
        started = time.monotonic()
        try:
            result = await target.deliver(claimed.event, claimed.attempt)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(claimed))
            raise
        except Exception as error:  # a bug in a target must not stop delivery of others
            log.exception("event target failed unexpectedly", extra=_log_fields(claimed))
            result = AttemptResult(Verdict.RETRY, None,
                                   truncate(f"{type(error).__name__}: {error}"))
        await self._record(claimed, result, time.monotonic() - started)

    async def _record(self, claimed: Claimed, result: AttemptResult, took: float) -> None:
        now = self.now()
        d = EventDeliveryRow
        fields = _log_fields(claimed) | {"took_s": round(took, 3),
                                         "status_code": result.status_code}
        async with self.db.transaction() as session:
            row = (await session.scalars(sa.select(d).where(
                d.id == claimed.delivery_id, d.claimed_by == self.node_id,
                d.lease_until.is_not(None)).with_for_update())).one_or_none()
            if row is None:  # our lease ran out and another node took over: not ours to write
                log.warning("lost the claim on a delivery before recording it", extra=fields)
                return
            first_failure = row.status == DeliveryStatus.PENDING.value
            row.attempts, row.last_attempt_at, row.updated_at = claimed.attempt, now, now
            row.last_status_code, row.lease_until = result.status_code, None
            if result.verdict is Verdict.ACKNOWLEDGED:
                recovered = row.status == DeliveryStatus.RETRYING.value
                row.status, row.delivered_at = DeliveryStatus.DELIVERED.value, now
                if recovered:
                    await audit_log.append(
                        session, Actor.system("events"), "event.delivery_recovered",
                        consult_id=claimed.event.consult_id,
                        details={**_audit_fields(claimed), "attempts": claimed.attempt})
            else:
                delay = next_delay(result, claimed.attempt, self.config.retry, self.rng.random())
                row.status, row.last_error = DeliveryStatus.RETRYING.value, result.error
                row.next_attempt_at = now + timedelta(seconds=delay)
                fields |= {"error": result.error, "retry_in_s": round(delay, 3)}
                if first_failure:
                    # The first failure is audited; later ones are in the delivery row only,
                    # or a receiver down for a week would flood the audit chain.
                    await audit_log.append(
                        session, Actor.system("events"), "event.delivery_failing",
                        consult_id=claimed.event.consult_id,
                        details={**_audit_fields(claimed), "error": result.error,
                                 "status_code": result.status_code})
        if self.metrics is not None:
            self.metrics.attempts.labels(claimed.target, result.verdict.value).inc()
        if result.verdict is Verdict.ACKNOWLEDGED:
            log.info("event delivered", extra=fields)
        else:
            log.warning("event delivery failed; will retry", extra=fields)

    async def _release(self, claimed: Claimed) -> None:
        """Give a claim back without recording an attempt (shutting down mid-send)."""
        d = EventDeliveryRow
        with contextlib.suppress(Exception):
            async with self.db.transaction() as session:
                await session.execute(sa.update(d).where(
                    d.id == claimed.delivery_id, d.claimed_by == self.node_id)
                    .values(lease_until=None, next_attempt_at=self.now()))

    async def _release_all_leases(self) -> None:
        d = EventDeliveryRow
        async with self.db.transaction() as session:
            await session.execute(sa.update(d).where(d.lease_until.is_not(None))
                                  .values(lease_until=None))

    async def flag_overdue(self) -> int:
        """Flag (once) and audit deliveries not acknowledged past the alert threshold."""
        self._last_sweep = time.monotonic()
        now = self.now()
        threshold = now - self.config.alert_after
        d, o = EventDeliveryRow, OutboxEventRow
        query = (
            sa.select(d, o).join(o, o.id == d.outbox_id)
            .where(d.status != DeliveryStatus.DELIVERED.value, d.alerted_at.is_(None),
                   sa.or_(o.created_at <= threshold, d.created_at <= threshold))
            .order_by(d.id).limit(200)
            .with_for_update(skip_locked=True, of=d)
        )
        async with self.db.transaction() as session:
            flagged = (await session.execute(query)).all()
            for delivery, event in flagged:
                if not is_overdue(event.created_at, delivery.created_at, now,
                                  self.config.alert_after):
                    continue
                delivery.alerted_at = now
                details = {"event_id": event.event_id, "event_type": event.event_type,
                           "target": delivery.target, "attempts": delivery.attempts,
                           "last_error": delivery.last_error,
                           "event_created_at": event.created_at.isoformat()}
                await audit_log.append(session, Actor.system("events"),
                                       "event.delivery_overdue", consult_id=event.consult_id,
                                       details=details)
                log.error("event delivery overdue: not acknowledged within the alert "
                          "threshold", extra={"consult_id": event.consult_id, **details})
            overdue = (await session.execute(sa.select(sa.func.count()).select_from(d).where(
                d.status != DeliveryStatus.DELIVERED.value, d.alerted_at.is_not(None)))).scalar()
        if self.metrics is not None:
            self.metrics.overdue.set(int(overdue or 0))
        return len(flagged)


def _outbound(row: OutboxEventRow) -> OutboundEvent:
    return OutboundEvent(event_id=row.event_id, event_type=row.event_type,
                         consult_id=row.consult_id, created_at=row.created_at,
                         data=dict(row.payload))


def _log_fields(claimed: Claimed) -> dict[str, Any]:
    return {"consult_id": claimed.event.consult_id, "event_id": claimed.event.event_id,
            "event_type": claimed.event.event_type, "target": claimed.target,
            "attempt": claimed.attempt}


def _audit_fields(claimed: Claimed) -> dict[str, Any]:
    return {"event_id": claimed.event.event_id, "event_type": claimed.event.event_type,
            "target": claimed.target}


# -- wiring into the application ----------------------------------------------------------


@dataclass
class EventDelivery:
    """The application's handle on its dispatcher (None: no target configured)."""

    dispatcher: EventDispatcher | None = None

    def nudge(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.nudge()


EVENT_DELIVERY = web.AppKey("event_delivery", EventDelivery)


def build_dispatcher(settings: Settings, db: Database,
                     registry: CollectorRegistry | None = None) -> EventDispatcher | None:
    """The node's dispatcher, or None when no target is configured (events then wait in the
    outbox, and are delivered — history included — once a target is configured)."""
    targets = targets_from_settings(settings, wall_clock)
    if not targets:
        return None
    return EventDispatcher(db, targets, DispatcherConfig.from_settings(settings),
                           metrics=DeliveryMetrics.of(registry) if registry else None)


def attach_event_delivery(app: web.Application, settings: Settings, db: Database,
                          registry: CollectorRegistry | None = None) -> EventDelivery:
    """Start the dispatcher after the migrations (on_startup handlers run in order) and stop
    it on shutdown — before on_cleanup closes the database under it."""
    delivery = EventDelivery()
    app[EVENT_DELIVERY] = delivery

    async def start(app: web.Application) -> None:
        delivery.dispatcher = build_dispatcher(settings, db, registry)
        if delivery.dispatcher is None:
            log.info("no event targets configured: events stay in the outbox")
            return
        await delivery.dispatcher.start()

    async def stop(app: web.Application) -> None:
        if delivery.dispatcher is not None:
            await delivery.dispatcher.stop()
            delivery.dispatcher = None

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return delivery
