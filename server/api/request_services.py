"""The domain services a request handler reaches through its request. They are built once,
by the composition root (`server.app.services.build_services`), and put on the app here."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from recorder.storage import LocalDirectoryStorage
from server.clinical.adverse_events import AdverseEvents
from server.clinical.chat import ChatLog
from server.clinical.consults import ConsultService
from server.clinical.live_notifier import LiveRelay
from server.clinical.physician_standing import PhysicianStanding
from server.clinical.physicians import PhysicianRegistry
from server.kernel.clock import Clock
from server.kernel.config import Settings
from server.kernel.db import Database
from server.kernel.metrics import Metrics
from server.photos.capture import PhotoService
from server.records.consult_archive import ConsultArchivist
from server.records.legal_holds import LegalHolds


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    physicians: PhysicianRegistry
    consults: ConsultService
    photos: PhotoService
    chat: ChatLog
    adverse_events: AdverseEvents
    archivist: ConsultArchivist
    legal_holds: LegalHolds
    metrics: Metrics
    # Recordings are written in place as they arrive, so this node needs a local directory;
    # an object store would take the sealed files after the consult (same key layout).
    storage: LocalDirectoryStorage
    # What the domain services tell the live layer; `server.app.live` plugs the namespace in.
    live: LiveRelay
    # Whether a physician may act now: asked at every physician request and socket event.
    standing: PhysicianStanding


SERVICES = web.AppKey("services", Services)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]
