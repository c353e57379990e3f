"""Activations without JavaScript: the installations where the working organization's licenses are active, for
its managers and Installation Partners (erin on Fabrikam), with masked keys and no prices; deactivating one ends
it through the activation service (audited); another tenant's activation is a 404 and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.licenses.models import Activation
from tests.factories import demo_org as _org
from tests.factories import make_activation, make_license


def _fabrikam_activations(app) -> dict[str, tuple[int, str]]:
    """Fabrikam's own license active on a till, and a license Northwind resold to Fabrikam active on a server:
    name -> (activation id, key)."""
    with app.app_context():
        fabrikam, northwind = _org("Fabrikam Stores"), _org("Northwind IT")
        own = make_license(fabrikam, customer=fabrikam, slug="livedesk", edition="Enterprise", quantity=5)
        resold = make_license(northwind, customer=fabrikam, slug="webstats", edition="Standard", quantity=5)
        made = {"own": (make_activation(own, "fabrikam-till-01").id, own.key),
                "resold": (make_activation(resold, "fabrikam-web-01").id, resold.key)}
        db.session.commit()
        return made


def _activation(app, activation_id: int) -> Activation:
    with app.app_context():
        return db.session.get(Activation, activation_id)


def test_an_installer_sees_where_the_chains_licenses_are_active_with_masked_keys_and_no_prices(app, login, demo):
    made = _fabrikam_activations(app)
    html = login("erin").get("/activations").get_data(as_text=True)
    main = html.split('<main id="main"')[1]
    for installation in ("fabrikam-till-01", "fabrikam-web-01"):
        assert installation in main
    assert "LiveDesk Help Desk" in main and "Enterprise" in main and "WebStats" in main
    for _, key in made.values():
        assert key not in html and f"key ending in </span>{key[-5:]}" in main
    assert "$" not in main
    assert "contoso-mail-01" not in main  # Northwind's license at Contoso: not Fabrikam's
    assert '<a href="/activations" aria-current="page">Activations</a>' in html
    nav = html.split('aria-label="Main"')[1].split("</nav>")[0]
    for hidden in ("Manage Subscriptions", "Invoices", "Users", "Shop", "Licenses"):
        assert hidden not in nav


def _deactivate(client, activation_id: int, page=None, **kwargs):
    """Confirm "Deactivate" on the activation's confirmation page (or on `page`, already open)."""
    url = f"/activations/{activation_id}/deactivate"
    return client.submit(page or url, {}, action=url, **kwargs)


def _forged(client, ref) -> int:
    """A deactivation no page of this user offers: a forged request, with the session's token."""
    return client.post(f"/activations/{ref}/deactivate", data={"csrf_token": client.csrf_token()}).status_code


def test_an_installer_deactivates_an_installation_and_it_is_audited(app, login, demo):
    made = _fabrikam_activations(app)
    activation_id, key = made["resold"]
    erin = login("erin")
    response = _deactivate(erin, activation_id)
    assert response.status_code == 302 and response.headers["Location"].endswith("/activations")
    page = erin.get("/activations").get_data(as_text=True)
    assert "is no longer active on fabrikam-web-01" in page
    assert "fabrikam-web-01</code>" not in page.split('<div id="activations">')[1]
    assert _activation(app, activation_id).deactivated_at is not None
    assert _activation(app, made["own"][0]).deactivated_at is None
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "license.deactivated")).one()
        assert entry.object_id == str(activation_id) and entry.details["key"] == key


def test_deactivating_again_changes_nothing_and_says_so(app, login, demo):
    activation_id, _ = _fabrikam_activations(app)["own"]
    dave = login("dave")
    confirm = dave.page(f"/activations/{activation_id}/deactivate")
    assert _deactivate(dave, activation_id, confirm).status_code == 302
    ended = _activation(app, activation_id).deactivated_at
    response = _deactivate(dave, activation_id, confirm, follow_redirects=True)  # the same page, confirmed again
    assert "had already ended" in response.get_data(as_text=True)
    assert _activation(app, activation_id).deactivated_at == ended


@pytest.mark.parametrize("ref", ["abc", "1.5", "-1", "99999999999999999999"])
def test_a_malformed_deactivation_is_refused_and_changes_nothing(app, login, demo, ref):
    made = _fabrikam_activations(app)
    assert _forged(login("erin"), ref) == 404
    assert all(_activation(app, a).deactivated_at is None for a, _ in made.values())


def test_a_deactivation_without_the_csrf_token_is_refused(app, login, demo):
    activation_id, _ = _fabrikam_activations(app)["own"]
    response = login("erin").post(f"/activations/{activation_id}/deactivate")
    assert response.status_code == 400
    assert _activation(app, activation_id).deactivated_at is None


def test_another_tenants_activation_is_a_404_and_stays_active(app, login, demo):
    """erin (Fabrikam's installer, a Master user of Northwind) tries Northwind's activation at Contoso and
    Litware's own; frank (Litware) tries Fabrikam's. Each is a 404 and every activation stays active."""
    made = _fabrikam_activations(app)
    with app.app_context():
        litware = _org("Litware Solutions")
        litwares = make_activation(make_license(litware, customer=litware), "litware-01").id
        contosos = db.session.scalars(select(Activation.id)
                                      .where(Activation.installation_id == "contoso-mail-01")).one()
        db.session.commit()
    attempts = [("erin", litwares), ("erin", contosos), ("frank", made["own"][0]), ("frank", made["resold"][0]),
                ("dave", contosos), ("dave", 999_999)]
    for user, activation_id in attempts:
        assert _forged(login(user), activation_id) == 404, (user, activation_id)
    with app.app_context():
        assert db.session.scalars(select(Activation).where(Activation.deactivated_at.is_not(None))).all() == []


def test_the_reseller_that_owns_a_license_sees_and_ends_its_activation_at_the_customer(app, login, demo):
    made = _fabrikam_activations(app)
    alice = login("alice")
    page = alice.get("/activations").get_data(as_text=True)
    assert "fabrikam-web-01" in page and "contoso-mail-01" in page and "fabrikam-till-01" not in page
    assert _deactivate(alice, made["resold"][0]).status_code == 302
    assert _forged(alice, made["own"][0]) == 404


def test_activations_are_paged_newest_first(app, login, demo):
    from datetime import timedelta

    from portal.db_types import utcnow

    with app.app_context():
        fabrikam = _org("Fabrikam Stores")
        now = utcnow()
        for n in range(30):
            activation = make_activation(make_license(fabrikam, customer=fabrikam), f"till-{n:02d}")
            activation.activated_at = now - timedelta(hours=n)
        db.session.commit()
    erin = login("erin")
    first = erin.get("/activations").get_data(as_text=True)
    assert first.count(">Deactivate<") == 25 and "till-00" in first and "till-24" in first
    assert "till-25" not in first and 'href="/activations?page=2"' in first
    second = erin.get("/activations?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<div id="activations">' in second
    assert second.count(">Deactivate<") == 5 and "till-29" in second and "<h1>" not in second


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_master_users_and_viewers_have_no_activations_page(app, login, demo, user):
    client = login(user)
    assert client.get("/activations").status_code == 403
    assert _forged(client, 1) == 404  # none of theirs to end
