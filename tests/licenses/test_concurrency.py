"""A license is assigned once even when many requests race for it (DOMAIN §4), on PostgreSQL with real threads."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import services
from portal.licenses.models import License
from portal.outbox.models import OutboxMessage
from tests.factories import DEMO_EMAILS, make_license

ATTEMPTS = 100


@pytest.mark.postgres_only
def test_a_hundred_concurrent_assignments_of_one_license_give_exactly_one(app, demo):
    """Every attempt holds a copy of the license read while it was unassigned, so each one reaches the database's
    conditional write; half assign to carol, half to people new to the portal (who would get an account)."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        license_id = make_license(northwind).id
        db.session.commit()
    alice = demo.users["alice"]
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        with app.app_context():
            try:
                stale = db.session.get(License, license_id)
                db.session.expunge(stale)  # keep the copy that says "unassigned"; give the connection back
                db.session.rollback()
                barrier.wait()
                email = DEMO_EMAILS["carol"] if n % 2 else f"racer{n}@example.org"
                services.assign_licenses([stale], email, Actor(alice, "192.0.2.1"))
                db.session.commit()
                result = "assigned"
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

    assert outcomes.count("assigned") == 1, outcomes
    with app.app_context():
        license_ = db.session.get(License, license_id)
        refusal = f"License {license_.key} is already assigned. A license can never be re-assigned."
        assert [o for o in outcomes if o != "assigned"] == [refusal] * (ATTEMPTS - 1)
        assert license_.customer_id is not None and license_.assigned_at is not None
        racers = db.session.scalar(select(func.count()).select_from(User).where(User.email.like("racer%")))
        assert racers == (0 if license_.customer_id == demo.orgs["Contoso Retail"] else 1)  # only the winner's
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.kind.like("license_assigned%"))) == 1

