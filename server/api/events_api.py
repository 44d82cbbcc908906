"""Events out, for staff: delivery status and retry (admin), the FHIR export of a consult,
the quality and safety report, and adverse-event reports."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.request_services import services_of
from server.api.responses import json_response
from server.api.routes import PAGING, ApiRoutes, Caller, QueryParam, paging
from server.clinical.adverse_events import AdverseEventIn
from server.events.event_delivery import (
    EVENT_DELIVERY,
    DeliveryStatus,
    QueuedDelivery,
    waiting_behind,
    wall_clock,
)
from server.kernel import audit_log
from server.kernel.errors import Conflict, MalformedRequest, NotFound
from server.kernel.models import EventDeliveryRow, OutboxEventRow
from server.kernel.validation import parse_json
from server.records.fhir_export import export_consult
from server.records.quality_report import parse_period, quality_report

routes = ApiRoutes()
EVENT_STATUSES = ("pending", "retrying", "delivered")


class EventNotFound(NotFound):
    code = "event_not_found"
    title = "Event not found"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_status(deliveries: list[EventDeliveryRow]) -> str:
    """One word for an event: delivered (every target acknowledged), retrying (a target
    is failing), or pending (not yet attempted everywhere, or no target configured yet)."""
    statuses = {d.status for d in deliveries}
    if statuses == {DeliveryStatus.DELIVERED.value}:
        return "delivered"
    if DeliveryStatus.RETRYING.value in statuses:
        return "retrying"
    return "pending"


def _delivery_view(row: EventDeliveryRow, now: datetime, configured: set[str] | None,
                   waits_for: str | None) -> dict[str, Any]:
    return {"target": row.target, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": None if row.status == "delivered" else _iso(row.next_attempt_at),
            "in_flight": row.lease_until is not None and row.lease_until > now,
            "last_attempt_at": _iso(row.last_attempt_at),
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "delivered_at": _iso(row.delivered_at),
            "overdue": row.alerted_at is not None and row.status != "delivered",
            "waiting_for_event": waits_for,
            **({"target_configured": row.target in configured}
               if configured is not None else {})}


def _event_view(event: OutboxEventRow, deliveries: list[EventDeliveryRow], now: datetime, *,
                configured: set[str] | None = None, waits: dict[tuple[str, str], str] | None
                = None, payload: bool = False) -> dict[str, Any]:
    waits = waits or {}
    view: dict[str, Any] = {
        "event_id": event.event_id, "type": event.event_type, "consult_id": event.consult_id,
        "created_at": event.created_at.isoformat(), "status": event_status(deliveries),
        "overdue": any(d.alerted_at is not None and d.status != "delivered"
                       for d in deliveries),
        "deliveries": [_delivery_view(d, now, configured, waits.get((event.event_id, d.target)))
                       for d in sorted(deliveries, key=lambda d: d.target)]}
    if payload:
        view["data"] = event.payload
    return view


def _status_filter(status: str) -> sa.ColumnElement[bool]:
    d = EventDeliveryRow
    of_event = functools.partial(sa.exists().where, d.outbox_id == OutboxEventRow.id)
    if status == "delivered":
        return sa.and_(of_event(), ~of_event(d.status != DeliveryStatus.DELIVERED.value))
    if status == "retrying":
        return of_event(d.status == DeliveryStatus.RETRYING.value)
    return sa.and_(~of_event(d.status == DeliveryStatus.RETRYING.value),
                   sa.or_(~of_event(), of_event(d.status == DeliveryStatus.PENDING.value)))


async def _deliveries_of(session: AsyncSession, outbox_ids: list[int]
                         ) -> dict[int, list[EventDeliveryRow]]:
    found: dict[int, list[EventDeliveryRow]] = {i: [] for i in outbox_ids}
    if outbox_ids:
        for row in (await session.scalars(sa.select(EventDeliveryRow).where(
                EventDeliveryRow.outbox_id.in_(outbox_ids)))).all():
            found[row.outbox_id].append(row)
    return found


def _configured_targets(request: web.Request) -> set[str]:
    delivery = request.app.get(EVENT_DELIVERY)
    if delivery is None or delivery.dispatcher is None:
        return set()
    return set(delivery.dispatcher.targets)


@routes.route("GET", "/api/events", summary="Events for hospital systems and their delivery "
              "status (newest first)", tag="events", auth=("admin",),
              query=(QueryParam("consult_id", "only this consult's events"),
                     QueryParam("status", "pending | retrying | delivered"),
                     QueryParam("type", "an event type, e.g. referral.created"),
                     *PAGING))
async def list_events(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    limit, offset = paging(request.query)
    status = request.query.get("status")
    if status is not None and status not in EVENT_STATUSES:
        raise MalformedRequest(f"status must be one of {', '.join(EVENT_STATUSES)}")
    query = sa.select(OutboxEventRow).order_by(OutboxEventRow.id.desc())
    if "consult_id" in request.query:
        query = query.where(OutboxEventRow.consult_id == request.query["consult_id"])
    if "type" in request.query:
        query = query.where(OutboxEventRow.event_type == request.query["type"])
    if status is not None:
        query = query.where(_status_filter(status))
    now = wall_clock()
    async with s.db.reading() as session:
        events = (await session.scalars(query.limit(limit).offset(offset))).all()
        deliveries = await _deliveries_of(session, [e.id for e in events])
    configured = _configured_targets(request)
    return json_response({"events": [_event_view(e, deliveries[e.id], now,
                                                 configured=configured) for e in events],
                          "limit": limit, "offset": offset})


async def _load_event(session: AsyncSession, event_id: str) -> OutboxEventRow:
    event = (await session.scalars(sa.select(OutboxEventRow).where(
        OutboxEventRow.event_id == event_id))).one_or_none()
    if event is None:
        raise EventNotFound(f"no event with id {event_id!r}")
    return event


async def _waits(session: AsyncSession, event: OutboxEventRow) -> dict[tuple[str, str], str]:
    """Which earlier events of the same consult hold this one back, per target."""
    if event.consult_id is None:
        return {}
    d, o = EventDeliveryRow, OutboxEventRow
    rows = (await session.execute(
        sa.select(d.outbox_id, o.event_id, d.consult_id, d.target, d.status)
        .join(o, o.id == d.outbox_id)
        .where(d.consult_id == event.consult_id, d.outbox_id <= event.id))).all()
    return waiting_behind(QueuedDelivery(r.outbox_id, r.event_id, r.consult_id, r.target,
                                         r.status == DeliveryStatus.DELIVERED.value)
                          for r in rows)


@routes.route("GET", "/api/events/{event_id}",
              summary="One event: its data and its delivery to each target (audited)",
              tag="events", auth=("admin",), errors=(404,))
async def get_event(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    event_id = request.match_info["event_id"]
    async with s.db.reading() as session:
        event = await _load_event(session, event_id)
        deliveries = (await _deliveries_of(session, [event.id]))[event.id]
        waits = await _waits(session, event)
    async with s.db.transaction() as session:  # the data holds contact details: audited
        await audit_log.append(session, caller.actor, "record.viewed",
                               consult_id=event.consult_id,
                               details={"what": "event", "event_id": event.event_id})
    return json_response(_event_view(event, deliveries, wall_clock(),
                                     configured=_configured_targets(request), waits=waits,
                                     payload=True))


@routes.route("POST", "/api/events/{event_id}/retry",
              summary="Make the event's unacknowledged deliveries due now (audited)",
              tag="events", auth=("admin",), errors=(404, 409),
              query=(QueryParam("target", "only this target"),))
async def retry_event(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    event_id = request.match_info["event_id"]
    only = request.query.get("target")
    now = wall_clock()
    d = EventDeliveryRow
    async with s.db.transaction() as session:
        event = await _load_event(session, event_id)
        pending = [row for row in (await _deliveries_of(session, [event.id]))[event.id]
                   if row.status != DeliveryStatus.DELIVERED.value
                   and (only is None or row.target == only)]
        if not pending:
            raise Conflict("nothing to retry: every delivery of this event was acknowledged"
                           if only is None else f"no unacknowledged delivery to {only!r}")
        made_due: list[dict[str, Any]] = []
        for row in pending:
            # The event can only go once the earlier events of its consult have: make those
            # due too, or the retry would wait behind them.
            queue = sa.and_(d.target == row.target, d.status != DeliveryStatus.DELIVERED.value)
            queue = sa.and_(queue, d.consult_id == event.consult_id, d.outbox_id <= event.id) \
                if event.consult_id is not None else sa.and_(queue, d.id == row.id)
            ids = (await session.scalars(sa.select(d.id).where(queue))).all()
            await session.execute(sa.update(d).where(d.id.in_(ids)).values(
                next_attempt_at=now, updated_at=now))
            made_due.append({"target": row.target, "deliveries": len(ids)})
        await audit_log.append(session, caller.actor, "event.retry_requested",
                               consult_id=event.consult_id,
                               details={"event_id": event.event_id,
                                        "event_type": event.event_type, "made_due": made_due})
    delivery = request.app.get(EVENT_DELIVERY)
    if delivery is not None:
        delivery.nudge()
    async with s.db.reading() as session:
        deliveries = (await _deliveries_of(session, [event.id]))[event.id]
    return json_response({**_event_view(event, deliveries, now,
                                        configured=_configured_targets(request)),
                          "made_due": made_due})


@routes.route("GET", "/api/event-targets",
              summary="Each delivery target: configured here, and its deliveries by status",
              tag="events", auth=("admin",))
async def list_event_targets(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    d, o = EventDeliveryRow, OutboxEventRow
    async with s.db.reading() as session:
        counts = (await session.execute(
            sa.select(d.target, d.status, sa.func.count()).group_by(d.target, d.status))).all()
        oldest = (await session.execute(
            sa.select(d.target, sa.func.min(o.created_at),
                      sa.func.sum(sa.case((d.alerted_at.is_not(None), 1), else_=0)))
            .join(o, o.id == d.outbox_id)
            .where(d.status != DeliveryStatus.DELIVERED.value).group_by(d.target))).all()
    configured = _configured_targets(request)
    targets: dict[str, dict[str, Any]] = {
        name: {"target": name, "configured": True, **dict.fromkeys(EVENT_STATUSES, 0),
               "oldest_undelivered_at": None, "overdue": 0} for name in configured}
    for target, status, n in counts:
        targets.setdefault(target, {"target": target, "configured": target in configured,
                                    **dict.fromkeys(EVENT_STATUSES, 0),
                                    "oldest_undelivered_at": None, "overdue": 0})[status] = n
    for target, first, overdue in oldest:
        targets[target]["oldest_undelivered_at"] = _iso(first)
        targets[target]["overdue"] = int(overdue or 0)
    return json_response({"targets": sorted(targets.values(), key=lambda t: t["target"])})


# -- FHIR ---------------------------------------------------------------------------------


@routes.route("GET", "/api/consults/{consult_id}/fhir",
              summary="The consult as a FHIR R4 (R4B) Bundle (audited)", tag="fhir",
              auth=("admin", "auditor", "physician"), errors=(404,),
              success_media_type="application/fhir+json")
async def get_fhir_bundle(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    async with s.db.reading() as session:
        bundle = await export_consult(session, consult_id, now=datetime.now(UTC))
    await s.consults.audit_access(caller.actor, consult_id, "fhir")
    return web.Response(text=json.dumps(bundle, ensure_ascii=False),
                        content_type="application/fhir+json", charset="utf-8")


# -- quality and safety --------------------------------------------------------------------


@routes.route("GET", "/api/reports/quality",
              summary="Quality and safety figures for consults scheduled in a period "
              "(audited)", tag="reports", auth=("admin",), errors=(400,),
              query=(QueryParam("from", "first day, YYYY-MM-DD (hospital time zone)",
                                {"type": "string", "format": "date"}),
                     QueryParam("to", "last day, included, YYYY-MM-DD",
                                {"type": "string", "format": "date"})))
async def get_quality_report(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    period = parse_period(request.query.get("from"), request.query.get("to"),
                          today=s.clock.today(), timezone=s.clock.timezone)
    async with s.db.reading() as session:
        report = await quality_report(session, period)
    async with s.db.transaction() as session:
        await audit_log.append(session, caller.actor, "report.viewed",
                               details={"report": "quality", **report["period"]})
    return json_response(report)


@routes.route("POST", "/api/consults/{consult_id}/adverse-events",
              summary="File an adverse event (负性事件) against a consult (audited)",
              tag="reports", auth=("admin",), body=AdverseEventIn, success=201,
              errors=(404,))
async def post_adverse_event(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    body = parse_json(AdverseEventIn, await request.read())
    report = await s.adverse_events.report(caller.actor, consult_id, body)
    delivery = request.app.get(EVENT_DELIVERY)
    if delivery is not None:
        delivery.nudge()
    return json_response(report, 201)


@routes.route("GET", "/api/consults/{consult_id}/adverse-events",
              summary="The adverse events filed against a consult (audited)", tag="reports",
              auth=("admin", "auditor"), errors=(404,))
async def list_adverse_events(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    events = await s.adverse_events.list_for(caller.actor, consult_id)
    return json_response({"consult_id": consult_id, "adverse_events": events})
