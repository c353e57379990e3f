"""The purge job: a closed storefront is kept (alias, prices, settings) until its purge date, then deleted with
its price rules and logo, and its alias is free again. Idempotent."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.extensions import db
from portal.reseller_plans.aliases import verdict
from portal.reseller_plans.plans import close_storefront
from portal.storefronts.models import Storefront, StorefrontPrice


def _close_northwind(app, ended_on: date) -> date:
    with app.app_context():
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        storefront = close_storefront(northwind, ended_on)
        storefront.logo_path = "storefront-logos/northwind-test.png"
        path = app.instance_path + "/" + storefront.logo_path
        import os

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"png")
        purge_on = storefront.purge_on
        db.session.commit()
    return purge_on


def test_a_closed_storefront_is_kept_until_its_purge_date_then_purged_once(app, demo):
    purge_on = _close_northwind(app, date(2026, 1, 31))
    assert purge_on == date(2026, 2, 1) + timedelta(days=90)
    runner = app.test_cli_runner()
    early = runner.invoke(args=["storefronts", "purge", "--date", (purge_on - timedelta(days=1)).isoformat()])
    assert early.exit_code == 0 and "0 storefronts purged" in early.output
    with app.app_context():
        assert not verdict("northwind").ok  # kept: the alias is still taken
    done = runner.invoke(args=["storefronts", "purge", "--date", purge_on.isoformat()])
    assert done.exit_code == 0 and "purged /s/northwind" in done.output and "1 storefront purged" in done.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Storefront)) == 0
        assert db.session.scalar(select(func.count()).select_from(StorefrontPrice)) == 0
        assert verdict("northwind").ok
        import os

        assert not os.path.exists(app.instance_path + "/storefront-logos/northwind-test.png")
    again = runner.invoke(args=["storefronts", "purge", "--date", purge_on.isoformat()])
    assert "0 storefronts purged" in again.output


def test_an_open_storefront_is_never_purged(app, demo):
    result = app.test_cli_runner().invoke(args=["storefronts", "purge", "--date", "2099-01-01"])
    assert "0 storefronts purged" in result.output


def test_a_bad_date_is_refused(app, demo):
    result = app.test_cli_runner().invoke(args=["storefronts", "purge", "--date", "0001-01-01"])
    assert result.exit_code != 0
