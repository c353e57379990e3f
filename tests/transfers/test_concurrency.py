"""Two staff approving the same request at once (two tabs, two reviewers), run against PostgreSQL with threads."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.billing.models import Invoice
from portal.errors import RuleError
from portal.extensions import db
from portal.subscriptions.models import Subscription
from portal.transfers import services
from portal.transfers.models import TransferRequest, TransferStatus
from tests.factories import actor, make_subscription, make_transfer


@pytest.mark.postgres_only
def test_two_staff_approving_at_once_approve_once(app, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        make_subscription(northwind, "device-protection", 10)
        transfer_id = make_transfer(northwind, db.session.get(Organization, demo.orgs["Contoso Retail"]),
                                    manager_email="carol@contoso.example.com").id
        db.session.commit()

    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def approve() -> None:
        with app.app_context():
            transfer = db.session.get(TransferRequest, transfer_id)
            barrier.wait()
            try:
                services.approve_transfer(transfer, 5_000, actor())
                db.session.commit()
                outcomes.append("approved")
            except RuleError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["approved"] + ["refused"] * 3
    with app.app_context():
        assert db.session.get(TransferRequest, transfer_id).status is TransferStatus.APPROVED
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1
        plans = db.session.scalars(select(Subscription).where(
            Subscription.organization_id == demo.orgs["Contoso Retail"])).all()
        assert len(plans) <= 1  # carved once, not once per reviewer
