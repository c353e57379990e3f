"""A device is replaced under RMA once even when several replacements of it race (PostgreSQL, real threads)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.audit.services import Actor
from portal.devices import services
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage

ATTEMPTS = 8  # within the connection pool: every attempt holds a connection until it commits


@pytest.mark.postgres_only
def test_concurrent_replacements_of_one_device_give_exactly_one(app, demo):
    with app.app_context():
        broken_id = db.session.scalars(select(Device.id).where(Device.name == "Airport kiosk 4")).one()
        kiosk_id = db.session.scalars(select(Location.id).where(Location.name == "Airport Kiosk")).one()
    barrier = threading.Barrier(ATTEMPTS, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                kiosk = db.session.get(Location, kiosk_id, options=[joinedload(Location.organization)])
                broken = db.session.get(Device, broken_id)
                services.add_device(kiosk, f"Kiosk 4 RMA {n}", "", True, Actor(demo.users["dave"]), replaces=broken)
                db.session.commit()
                result = "replaced"
            except RuleError as error:
                db.session.rollback()
                result = error.message
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("replaced") == 1, outcomes
    assert all("already replaced by Kiosk 4 RMA" in o for o in outcomes if o != "replaced"), outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device).where(Device.replaces_id == broken_id)) == 1
        assert not db.session.get(Device, broken_id).counts
        assert not db.session.scalar(select(func.count()).select_from(OutboxMessage))
