"""The payment gateway interface, and the sandbox gateway that the embedded default uses.

The sandbox's documented test numbers (any future expiry, any name):

| number              | brand            | outcome  |
|---------------------|------------------|----------|
| 4242 4242 4242 4242 | Visa             | approved |
| 5555 5555 5555 4444 | Mastercard       | approved |
| 3782 822463 10005   | American Express | approved |
| 4000 0000 0000 0002 | Visa             | declined |
| 5105 1051 0510 5100 | Mastercard       | declined |

Any other valid number is approved. The sandbox keeps its records in its own tables, written on a separate
connection and committed at once, as a real gateway would keep them on its side: a charge survives a rollback
of the portal's transaction, which is why the portal voids a charge whose order did not commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.payments.cards import CardInput
from portal.payments.models import SandboxCard, SandboxCharge

DECLINING_NUMBERS = frozenset({"4000000000000002", "5105105105105100"})


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    charge_id: str | None
    message: str
    voided: bool = False  # an approved charge given back since


class PaymentGateway(Protocol):
    def tokenize(self, card: CardInput) -> str:
        """Hand the card to the gateway; the token is all the portal keeps."""

    def charge(self, token: str, amount_minor: int, currency: str, idempotency_key: str) -> ChargeResult:
        """Charge once per idempotency key: a repeated key returns the first result without charging again."""

    def void(self, charge_id: str) -> None:
        """Cancel an approved charge (its order could not be saved). Voiding twice does no harm."""

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        """The charge made under this key, as it stands now (approved, declined or voided); None if the gateway
        never charged it. How a payment attempt whose process died learns whether money was taken."""


class SandboxGateway:
    def tokenize(self, card: CardInput) -> str:
        token = f"tok_sandbox_{secrets.token_hex(12)}"
        outcome = "decline" if card.number in DECLINING_NUMBERS else "approve"
        with db.engine.begin() as conn:
            conn.execute(insert(SandboxCard).values(token=token, outcome=outcome))
        return token

    def charge(self, token: str, amount_minor: int, currency: str, idempotency_key: str) -> ChargeResult:
        previous = self.find_charge(idempotency_key)
        if previous is not None:
            return previous
        with db.engine.connect() as conn:
            outcome = conn.scalar(select(SandboxCard.outcome).where(SandboxCard.token == token))
        status = "approved" if outcome == "approve" else "declined"
        charge_id = f"ch_sandbox_{secrets.token_hex(12)}"
        try:
            with db.engine.begin() as conn:
                conn.execute(insert(SandboxCharge).values(
                    id=charge_id, idempotency_key=idempotency_key, token=token, amount_minor=amount_minor,
                    currency=currency, status=status))
        except IntegrityError:  # a concurrent request with the same key charged first
            return self.find_charge(idempotency_key)
        return self._result(charge_id, status)

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        with db.engine.connect() as conn:
            row = conn.execute(select(SandboxCharge.id, SandboxCharge.status)
                               .where(SandboxCharge.idempotency_key == idempotency_key)).first()
        return self._result(row.id, row.status) if row else None

    @staticmethod
    def _result(charge_id: str, status: str) -> ChargeResult:
        if status == "approved":
            return ChargeResult(True, charge_id, "approved")
        if status == "voided":
            return ChargeResult(False, charge_id, "This charge was cancelled; nothing was taken.", voided=True)
        return ChargeResult(False, charge_id, "The card was declined by its bank. Use another card or contact "
                                              "the bank.")

    def void(self, charge_id: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(update(SandboxCharge).where(SandboxCharge.id == charge_id).values(status="voided"))


def gateway() -> PaymentGateway:
    """The app's gateway: the sandbox until a real gateway is configured (tests may put their own here)."""
    return current_app.extensions.setdefault("payment_gateway", SandboxGateway())
