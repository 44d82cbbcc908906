"""The one place where the domain services of a process are built: `shouzhen serve`, every
CLI command and the tests' app all get them from `build_services`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from recorder.storage import LocalDirectoryStorage
from server.api.request_services import Services
from server.clinical.adverse_events import AdverseEvents
from server.clinical.booking import PilotPeriod
from server.clinical.chat import ChatLog
from server.clinical.consults import ConsultService
from server.clinical.live_notifier import LiveRelay
from server.clinical.physician_standing import PhysicianStanding
from server.clinical.physicians import PhysicianRegistry
from server.kernel.clock import Clock
from server.kernel.config import Settings
from server.kernel.db import Database
from server.kernel.metrics import Metrics
from server.photos.capture import PhotoQuotas, PhotoService
from server.photos.decode_pool import DecodePool
from server.photos.photo_intake import IntakeLimits
from server.photos.photo_quality import DEFAULT_THRESHOLDS
from server.records.consult_archive import ConsultArchivist
from server.records.legal_holds import LegalHolds


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Every domain service, once. Building touches no database and no network (only the
    storage directory is created): `migrate` and the live layer come after."""
    clock = clock or Clock(timezone=ZoneInfo(settings.timezone))
    db = Database(settings.effective_database_url)
    storage = LocalDirectoryStorage(settings.data_dir / "store")
    live = LiveRelay()
    consults = ConsultService(db, clock, secret=settings.secret_key, base_url=settings.base_url,
                              default_window_minutes=settings.consult_window_minutes,
                              live=live,
                              pilot=PilotPeriod(settings.pilot_start, settings.pilot_end))
    chat = ChatLog(db, clock)
    standing = PhysicianStanding(db, clock)
    return Services(
        settings=settings, db=db, clock=clock,
        physicians=PhysicianRegistry(db, clock, standing=standing, consults=consults,
                                     live=live),
        consults=consults,
        photos=PhotoService(db, clock, storage, secret=settings.secret_key,
                            limits=IntakeLimits(
                                max_bytes=settings.max_photo_bytes,
                                max_pixels=int(settings.max_photo_megapixels * 1_000_000)),
                            thresholds=DEFAULT_THRESHOLDS, live=live,
                            quotas=PhotoQuotas(settings.max_photos_per_consult,
                                               settings.max_photos_per_capture_request),
                            decodes=DecodePool(settings.photo_decode_workers)),
        chat=chat,
        adverse_events=AdverseEvents(db, clock),
        archivist=ConsultArchivist(db, storage, consults, chat),
        legal_holds=LegalHolds(db, clock),
        metrics=Metrics(),
        storage=storage,
        live=live,
        standing=standing,
    )


@contextlib.asynccontextmanager
async def migrated_services(settings: Settings) -> AsyncIterator[Services]:
    """For a CLI command: the services on a migrated database, closed afterwards."""
    services = build_services(settings)
    try:
        await services.db.migrate()
        yield services
    finally:
        await services.db.close()
