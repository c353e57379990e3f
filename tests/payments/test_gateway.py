"""The sandbox gateway (the embedded default): its documented test cards approve or decline, a repeated
idempotency key never charges twice, and a charge whose order could not be saved can be voided."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.payments.cards import check_card
from portal.payments.gateway import SandboxGateway, gateway
from portal.payments.models import SandboxCard, SandboxCharge


def _token(number: str) -> str:
    card = check_card(number, 12, date.today().year + 1, "Ada Lovelace")
    return SandboxGateway().tokenize(card)


def _charge_row(charge_id: str) -> SandboxCharge:
    db.session.expire_all()  # the gateway wrote on its own connection
    return db.session.get(SandboxCharge, charge_id)


def _charge_count() -> int:
    return db.session.scalar(select(func.count()).select_from(SandboxCharge))


@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "378282246310005"])
def test_the_sandbox_approves_its_approving_test_cards(ctx, number):
    result = SandboxGateway().charge(_token(number), 12_345, "USD", f"approve-{number}")
    assert result.approved and result.charge_id.startswith("ch_sandbox_")
    row = _charge_row(result.charge_id)
    assert (row.status, row.amount_minor, row.currency) == ("approved", 12_345, "USD")


@pytest.mark.parametrize("number", ["4000000000000002", "5105105105105100"])
def test_the_sandbox_declines_its_declining_test_cards(ctx, number):
    result = SandboxGateway().charge(_token(number), 12_345, "USD", f"decline-{number}")
    assert not result.approved
    assert "declined" in result.message
    assert _charge_row(result.charge_id).status == "declined"


def test_a_card_is_handed_to_the_gateway_for_a_token(ctx):
    approved, declined = _token("4242 4242 4242 4242"), _token("4000 0000 0000 0002")
    assert approved.startswith("tok_sandbox_") and approved != declined
    assert db.session.get(SandboxCard, approved).outcome == "approve"
    assert db.session.get(SandboxCard, declined).outcome == "decline"


def test_the_same_idempotency_key_charges_once(ctx):
    sandbox = SandboxGateway()
    token = _token("4242424242424242")
    first = sandbox.charge(token, 10_000, "USD", "checkout-1-abc")
    again = sandbox.charge(token, 10_000, "USD", "checkout-1-abc")
    assert again == first
    assert _charge_count() == 1


def test_a_repeated_key_returns_the_first_charge_whatever_the_second_request_asks(ctx):
    sandbox = SandboxGateway()
    first = sandbox.charge(_token("4242424242424242"), 10_000, "USD", "checkout-1-abc")
    again = sandbox.charge(_token("5555555555554444"), 99_999, "USD", "checkout-1-abc")
    assert again.charge_id == first.charge_id
    assert _charge_row(first.charge_id).amount_minor == 10_000
    assert _charge_count() == 1


def test_different_keys_are_different_charges(ctx):
    sandbox = SandboxGateway()
    token = _token("4242424242424242")
    first = sandbox.charge(token, 10_000, "USD", "checkout-1-abc")
    second = sandbox.charge(token, 10_000, "USD", "checkout-1-def")
    assert first.charge_id != second.charge_id
    assert _charge_count() == 2


def test_voiding_a_charge_marks_it_voided(ctx):
    sandbox = SandboxGateway()
    result = sandbox.charge(_token("4242424242424242"), 10_000, "USD", "checkout-1-abc")
    sandbox.void(result.charge_id)
    assert _charge_row(result.charge_id).status == "voided"


def test_the_app_uses_the_sandbox_until_a_real_gateway_is_configured(ctx):
    assert isinstance(gateway(), SandboxGateway)
    assert gateway() is gateway()
