"""Storefront aliases: their shape, reserved words, suggestions, and the database deciding between two checkouts
racing for the same alias (PostgreSQL): one storefront, the other buyer told beside the field, their payment given
back."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.accounts.models import PartnerTier, Role
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.models import Order
from portal.payments.processor import IntentState
from portal.reseller_plans.aliases import RESERVED, check_alias, shape_problem, suggestions, verdict
from portal.sandbox_processor.models import SandboxIntent
from portal.storefronts.models import Storefront

CARD = {"payment_kind": "card", "saved_card": 0}  # a new card: typed on the processor's page (no JavaScript)
APPROVED_VISA = "4242 4242 4242 4242"


@pytest.mark.parametrize("alias", ["abc", "my-shop", "a1-b2-c3", "x" * 30, "123"])
def test_well_formed_aliases(alias):
    assert shape_problem(alias) is None


@pytest.mark.parametrize("alias", ["", "ab", "x" * 31, "-shop", "shop-", "My-Shop", "my_shop", "my shop", "café",
                                   "shop\x00", "admin", "api", "static", "login", "s", "www", "storefront"])
def test_malformed_or_reserved_aliases(alias):
    assert shape_problem(alias) is not None


def test_the_reserved_words_include_the_portals_paths():
    assert {"admin", "api", "static", "login", "logout", "signup", "shop", "cart", "checkout", "account"} <= RESERVED


def test_a_taken_alias_gets_free_suggestions(app, demo):
    with app.app_context():
        found = verdict("Northwind")
        assert not found.ok and "taken" in found.problem
        assert found.suggestions and all(verdict(s).ok for s in found.suggestions)
        assert verdict("northwind", own_storefront_id=db.session.scalar(select(Storefront.id))).ok
        assert check_alias("  Litware ") == "litware"
        with pytest.raises(RuleError) as refused:
            check_alias("admin")
        assert refused.value.field == "storefront_alias"
        assert all(len(s) <= 30 and shape_problem(s) is None for s in suggestions("y" * 30))


@pytest.mark.postgres_only
def test_two_checkouts_racing_for_one_alias_open_one_storefront_and_keep_one_payment(app, login, demo, client,
                                                                                   monkeypatch):
    from tests.factories import make_member, make_org

    with app.app_context():
        rival = make_member(make_org("Rival Resellers", partner_tier=PartnerTier.SILVER), Role.MANAGER).user
        db.session.commit()
        rival_email = rival.email
    client.login(rival_email, "a-long-password")
    buyers = [login("frank"), client]
    for buyer in buyers:
        assert buyer.submit("/account/plan", {}, button="Add Standard to the cart").status_code == 302
    pages = [b.page("/checkout") for b in buyers]  # both checkouts open before either places its order
    barrier, answers = threading.Barrier(2, timeout=60), []
    for buyer in buyers:  # both come back from the processor, paid, at the same moment
        real_get = buyer.get

        def get(path, *args, _real_get=real_get, **kwargs):
            if str(path).startswith("/checkout/return"):
                barrier.wait()
            return _real_get(path, *args, **kwargs)

        monkeypatch.setattr(buyer, "get", get)

    def place(buyer, page):
        sent = buyer.submit(page, {**CARD, "storefront_alias": "contested"})  # the alias is free for both now
        response = buyer.at_processor(sent, APPROVED_VISA)
        answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=place, args=pair) for pair in zip(buyers, pages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(status for status, _ in answers) == [302, 422]
    refused = next(text for status, text in answers if status == 422)
    assert 'id="storefront_alias-error"' in refused and "contested" in refused
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Storefront).where(
            Storefront.alias == "contested")) == 1
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1
        payments = db.session.scalars(select(SandboxIntent).where(SandboxIntent.kind == "payment")).all()
        assert len(payments) == 2 and all(p.state is IntentState.SUCCEEDED for p in payments)  # both paid there
        assert sorted(p.amount_refunded_minor == p.amount_minor for p in payments) == [False, True]  # one given back
        order = db.session.scalars(select(Order)).one()
        kept = next(p for p in payments if p.amount_refunded_minor == 0)
        assert (kept.id, kept.amount_minor) == (order.gateway_charge_id, order.total_minor)
