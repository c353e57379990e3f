"""`flask seed-demo`: the demo accounts of the README, idempotent."""

from sqlalchemy import func, select

from portal.accounts.models import Membership, Organization, User
from portal.extensions import db
from tests.factories import DEMO_EMAILS


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Organization, User, Membership))


def test_seed_demo_is_idempotent_and_prints_the_accounts(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        after_first = _counts()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    with app.app_context():
        assert _counts() == after_first
    for email in DEMO_EMAILS.values():
        assert email in first.output
    assert "portal-demo-2026" in first.output


def test_every_demo_account_can_sign_in(client, demo):
    for email in DEMO_EMAILS.values():
        client.login(email)
        client.post("/logout")


def test_demo_chains_match_the_scenarios(app, demo):
    with app.app_context():
        orgs = {o.name: o for o in db.session.scalars(select(Organization))}
        assert orgs["Contoso Retail"].parent_id == orgs["Northwind IT"].id
        assert orgs["Fabrikam Stores"].parent_id is None
        assert orgs["Northwind IT"].billing_mode.value == "monthly_invoice"
        assert orgs["Northwind IT"].partner_tier.value == "gold"
        assert orgs["Litware Solutions"].billing_mode.value == "pay_on_order"
