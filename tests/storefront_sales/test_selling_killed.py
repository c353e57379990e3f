"""No money without the sale (issue 14 item 5), with a real process killed after the whole storefront sale was written
and before it committed (tests/storefront_sales/dying_customer.py): nothing of either sale is left, the payment the
processor took is reused by the customer's retry with the same card (the same form sent again: the same payment
method id), given back by a retry with another card, or given back by the `payments reconcile` job when nobody comes
back."""

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
from portal.orders.models import Order, PaymentKind
from portal.orders.services import PaymentChoice
from portal.payments.charges import CardChoice
from portal.sandbox_processor.models import SandboxIntent
from tests.factories import processor_card
from tests.storefront_sales.test_selling import _add, _carol, _charge_state, _northwind, _place

ROOT = Path(__file__).resolve().parents[2]
FIRST_CARD, OTHER_CARD = "4242 4242 4242 4242", "5555 5555 5555 4444"


def _charges() -> dict[str, str]:
    """Each payment at the processor by its id: "taken", "given back" (refunded whole) or its state."""
    db.session.expire_all()  # the processor writes on its own connection
    payments = db.session.scalars(select(SandboxIntent).where(SandboxIntent.kind == "payment"))
    return {intent.id: _charge_state(intent) for intent in payments}


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("retry_with", [FIRST_CARD, OTHER_CARD, None], ids=["same-card", "other-card", "no-retry"])
def test_a_storefront_sale_killed_before_its_commit_leaves_no_charge_without_the_sale(
        app, demo, database_url, tmp_path, retry_with):
    with app.app_context():
        storefront, _ = _northwind(demo)
        contoso, carol = _carol(demo)
        _add(storefront, contoso, carol)
        first_card = processor_card(FIRST_CARD)  # what the checkout's hosted fields gave the form
        run = subprocess.run(
            [sys.executable, "-m", "tests.storefront_sales.dying_customer", database_url, str(tmp_path),
             storefront.alias, str(contoso.id), str(carol.id), first_card],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == -signal.SIGKILL, run.stderr
        [(orphan, status)] = _charges().items()
        assert status == "taken"  # the money was taken ...
        assert _count(Order) == _count(Invoice) == _count(License, License.order_line_id.is_not(None)) == 0  # ... alone

        if retry_with is None:  # nobody comes back: the reconcile job gives the money back
            result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
            assert result.exit_code == 0 and f"charge {orphan} voided" in result.output, result.output
            assert _charges() == {orphan: "given back"}
            return
        card = first_card if retry_with == FIRST_CARD else processor_card(retry_with)
        order = _place(storefront, contoso, carol, PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=card)))
        charges = _charges()
        if retry_with == FIRST_CARD:  # the same card reuses the payment the dead process took
            assert order.gateway_charge_id == orphan and charges == {orphan: "taken"}
        else:  # another card gives it back before the sale commits
            assert order.gateway_charge_id != orphan and charges[orphan] == "given back"
            assert charges[order.gateway_charge_id] == "taken"
        assert _count(Order) == 2 and _count(Invoice) == 2  # the customer's and the wholesale one, once
        result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
        assert "Nothing to reconcile" in result.output, result.output
