"""What request handlers and socket handlers share: one object per application."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from recorder.storage import LocalDirectoryStorage
from server.clinical.consults import ConsultService
from server.clinical.physicians import PhysicianRegistry
from server.kernel.clock import Clock
from server.kernel.config import Settings
from server.kernel.db import Database
from server.kernel.metrics import Metrics


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    physicians: PhysicianRegistry
    consults: ConsultService
    metrics: Metrics
    # Recordings are written in place as they arrive, so this node needs a local directory;
    # an object store would take the sealed files after the consult (same key layout).
    storage: LocalDirectoryStorage

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Services:
        clock = clock or Clock()
        db = Database(settings.effective_database_url)
        return cls(
            settings=settings, db=db, clock=clock,
            physicians=PhysicianRegistry(db, clock),
            consults=ConsultService(db, clock, secret=settings.secret_key,
                                    base_url=settings.base_url,
                                    default_window_minutes=settings.consult_window_minutes),
            metrics=Metrics(),
            storage=LocalDirectoryStorage(settings.data_dir / "store"),
        )


SERVICES = web.AppKey("services", Services)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]
