"""What the sandbox processor took, as the payment tests read it: each payment intent as "approved" (succeeded,
nothing given back), "voided" (cancelled before anything was taken, or refunded whole), "partly refunded", or its
state while nothing is taken yet ("requires_payment_method", "requires_action")."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.payments.processor import IntentState
from portal.sandbox_processor.models import SandboxIntent


def charge_status(intent: SandboxIntent) -> str:
    if intent.state is IntentState.CANCELED:
        return "voided"
    if intent.state is IntentState.SUCCEEDED:
        if intent.amount_refunded_minor == 0:
            return "approved"
        return "voided" if intent.amount_refunded_minor == intent.amount_minor else "partly refunded"
    return intent.state.value


def charges() -> dict[str, str]:
    """Every payment intent of the sandbox, oldest first, and what it took."""
    db.session.expire_all()  # the processor and the payment attempts write on connections of their own
    intents = db.session.scalars(select(SandboxIntent).where(SandboxIntent.kind == "payment")
                                 .order_by(SandboxIntent.created_at, SandboxIntent.id))
    return {intent.id: charge_status(intent) for intent in intents}


def amount_of(charge_id: str) -> int:
    db.session.expire_all()
    return db.session.get(SandboxIntent, charge_id).amount_minor
