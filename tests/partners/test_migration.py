"""Migration 0009 on a database the old flow filled: per-person Installation Partner memberships become grants."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from portal import create_app
from portal.extensions import db
from tests.conftest import test_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _org(org_id: int, name: str, parent_id: int | None = None) -> None:
    db.session.execute(text(
        "INSERT INTO organization (id, parent_id, name, legal_name, address_line1, address_line2, city, region, "
        "postal_code, country, invoice_email, phone, currency, billing_mode, partner_tier, "
        "grandfathered_payment_methods, tax_exempt, created_at) VALUES (:id, :parent, :name, :name, '1 Main St', '', "
        "'Denver', 'CO', '80202', 'US', 'ap@example.com', '+1 555 0100', 'USD', 'pay_on_order', 'none', false, "
        "false, :now)"), {"id": org_id, "parent": parent_id, "name": name, "now": NOW})


def _user(user_id: int, email: str) -> None:
    db.session.execute(text(
        "INSERT INTO user_account (id, email, full_name, phone, is_staff, active, session_token, created_at) "
        "VALUES (:id, :email, '', '', false, true, :token, :now)"),
        {"id": user_id, "email": email, "token": f"token-{user_id}", "now": NOW})


def _membership(user_id: int, org_id: int, role: str, active: bool = True) -> None:
    db.session.execute(text(
        "INSERT INTO membership (user_id, organization_id, role, active, created_at) "
        "VALUES (:user, :org, :role, :active, :now)"),
        {"user": user_id, "org": org_id, "role": role, "active": active, "now": NOW})


def _rows(sql: str) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(text(sql))]


def test_old_installer_memberships_become_grants_to_the_partner_organization(tmp_path, smtp_server):
    app = create_app(test_config(f"sqlite:///{tmp_path / 'old.db'}", f"smtp://127.0.0.1:{smtp_server[1]}",
                                 INSTANCE_PATH=str(tmp_path)))
    with app.app_context():
        upgrade(revision="0008")
        _org(1, "Fabrikam Stores")
        _org(2, "Northwind IT")
        _org(3, "Contoso Retail", parent_id=2)
        _user(1, "erin@northwind.example.com")  # Northwind's Master user, made installer of Fabrikam
        _user(2, "ivan@northwind.example.com")  # Northwind's manager, also an installer of Fabrikam
        _user(3, "fabian@fabrikam.example.com")  # Fabrikam's own installer, of no partner
        _user(4, "olga@northwind.example.com")  # a revoked partner: her installer membership is inactive
        _membership(1, 2, "member")
        _membership(1, 1, "installer")
        _membership(2, 2, "manager")
        _membership(2, 1, "installer")
        _membership(3, 1, "installer")
        _membership(4, 2, "member")
        _membership(4, 1, "installer", active=False)
        db.session.commit()

        upgrade(revision="0009")
        grants = _rows("SELECT id, customer_id, partner_id, state, roles, starts_on, expires_on FROM partner_grant")
        assert len(grants) == 1
        grant_id, customer, partner, state, roles, starts_on, expires_on = grants[0]
        assert (customer, partner, state, roles) == (1, 2, "active", "installer")
        starts, ends = (datetime.fromisoformat(str(d)).date() for d in (starts_on, expires_on))
        assert starts == datetime.now(UTC).date() and (ends.year - starts.year, ends.month) == (1, starts.month)
        assert sorted(_rows("SELECT grant_id, user_id FROM partner_assignment")) == [(grant_id, 1), (grant_id, 2)]
        assert sorted(_rows("SELECT user_id, organization_id, role, active FROM membership")) == [
            (1, 2, "member", 1), (2, 2, "manager", 1), (3, 1, "installer", 1), (4, 1, "installer", 0),
            (4, 2, "member", 1)]

        downgrade(revision="0008")  # per-person access comes back for the users assigned
        assert sorted(_rows("SELECT user_id, organization_id, role FROM membership WHERE active")) == [
            (1, 1, "installer"), (1, 2, "member"), (2, 1, "installer"), (2, 2, "manager"), (3, 1, "installer"),
            (4, 2, "member")]
        db.session.remove()
        db.engine.dispose()
