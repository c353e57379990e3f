"""No money without the sale (issue 14 item 5), with a real process killed after the whole storefront sale was written
and before it committed (tests/storefront_sales/dying_customer.py): nothing of either sale is left, the charge the
gateway approved is reused by the customer's retry with the same card, voided by a retry with another card, or voided
by the `payments reconcile` job when nobody comes back."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.billing.models import Invoice
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import Order
from portal.payments.models import SandboxCharge
from tests.storefront_sales.test_selling import _add, _card, _carol, _northwind, _place

ROOT = Path(__file__).resolve().parents[2]
FIRST_CARD, OTHER_CARD = "4242 4242 4242 4242", "5555 5555 5555 4444"


def _charges() -> dict[str, str]:
    db.session.expire_all()  # the gateway writes on its own connection
    return {c.id: c.status for c in db.session.scalars(select(SandboxCharge))}


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("retry_with", [FIRST_CARD, OTHER_CARD, None], ids=["same-card", "other-card", "no-retry"])
def test_a_storefront_sale_killed_before_its_commit_leaves_no_charge_without_the_sale(
        app, demo, database_url, tmp_path, retry_with):
    with app.app_context():
        storefront, _ = _northwind(demo)
        contoso, carol = _carol(demo)
        _add(storefront, contoso, carol)
        run = subprocess.run(
            [sys.executable, "-m", "tests.storefront_sales.dying_customer", database_url, str(tmp_path),
             storefront.alias, str(contoso.id), str(carol.id), FIRST_CARD],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == -signal.SIGKILL, run.stderr
        [(orphan, status)] = _charges().items()
        assert status == "approved"  # the money was taken ...
        assert _count(Order) == _count(Invoice) == _count(License, License.order_line_id.is_not(None)) == 0  # ... alone

        if retry_with is None:  # nobody comes back: the reconcile job voids the charge
            result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
            assert result.exit_code == 0 and f"charge {orphan} voided" in result.output, result.output
            assert _charges() == {orphan: "voided"}
            return
        order = _place(storefront, contoso, carol, _card(retry_with))
        charges = _charges()
        if retry_with == FIRST_CARD:  # the same card reuses the charge the dead process took
            assert order.gateway_charge_id == orphan and charges == {orphan: "approved"}
        else:  # another card voids it before the sale commits
            assert order.gateway_charge_id != orphan and charges[orphan] == "voided"
            assert charges[order.gateway_charge_id] == "approved"
        assert _count(Order) == 2 and _count(Invoice) == 2  # the customer's and the wholesale one, once
        result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
        assert "Nothing to reconcile" in result.output, result.output
