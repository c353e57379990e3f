"""Destructive actions ask first (issue 17 item 5): the list's button is a link to the action's own URL, whose GET
is a confirmation page with a real POST form and its CSRF token (JavaScript off) or, for htmx, the same question as
a modal <dialog>; only that form's POST acts. The first click never acts, and a POST without the page's token is
refused with 400 and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.accounts.models import Contact, Membership, Role
from portal.devices.models import Device, Location
from portal.extensions import db
from portal.licenses.models import Activation
from portal.partners.models import GrantState, PartnerGrant
from portal.payments.models import PaymentMethod
from portal.seller.models import TaxRate
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.transfers.models import TransferRequest, TransferStatus
from tests.access import key_authenticated
from tests.factories import (
    demo_org,
    make_activation,
    make_contact,
    make_device,
    make_license,
    make_location,
    make_member,
    make_org,
    make_partner_grant,
    make_payment_method,
    make_price_rule,
    make_transfer,
)
from tests.forms import Page

TEMPLATES = Path(__file__).resolve().parents[1] / "portal" / "templates"


@dataclass(frozen=True)
class Case:
    """A destructive action: who does it, from which page, at which URL, and how to tell it happened."""

    user: str
    make: Callable[[], tuple[str, str, int]]  # -> (the page with the button, the action's URL, the object's id)
    done: Callable[[int], bool]


def _card():
    card = make_payment_method(demo_org("Northwind IT"), last4="1881")
    return "/payment-methods", f"/payment-methods/{card.id}/remove", card.id


def _transfer():
    transfer = make_transfer(demo_org("Northwind IT"), demo_org("Contoso Retail"))
    return f"/transfers/{transfer.id}", f"/transfers/{transfer.id}/withdraw", transfer.id


def _partner_access():
    grant = make_partner_grant(demo_org("Fabrikam Stores"), make_org("Tailspin Installers"), state=GrantState.ACTIVE)
    return "/account/partners", f"/account/partners/{grant.id}/revoke", grant.id


def _partner_request():
    grant = make_partner_grant(demo_org("Fabrikam Stores"), make_org("Adatum Installers"))
    return "/account/partners", f"/account/partners/{grant.id}/decline", grant.id


def _user():
    membership = make_member(demo_org("Northwind IT"), Role.MEMBER)
    return "/account/users", f"/account/users/{membership.id}/deactivate", membership.id


def _contact():
    contact = make_contact(demo_org("Northwind IT"))
    return "/account/users", f"/account/contacts/{contact.id}/remove", contact.id


def _location():
    location = make_location(demo_org("Fabrikam Stores"), name="Old Warehouse")
    return f"/locations/{location.id}", f"/locations/{location.id}/remove", location.id


def _device():
    device = make_device(make_location(demo_org("Fabrikam Stores"), name="Pop-up Store"), name="Till 3")
    return f"/devices/{device.id}", f"/devices/{device.id}/remove", device.id


def _tax_rate():
    rate = TaxRate(country="CA", region="Nunavut", label="Nunavut GST", rate_bp=500)
    db.session.add(rate)
    db.session.flush()
    return "/admin/taxes", f"/admin/taxes/{rate.id}/remove", rate.id


def _activation():
    activation = make_activation(make_license(demo_org("Northwind IT")), installation_id="INSTALL-DESK-7")
    return "/activations", f"/activations/{activation.id}/deactivate", activation.id


def _price_rule():
    shop = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
    rule = make_price_rule(shop, slug="webstats", customer=demo_org("Contoso Retail"), markup_bp=None,
                           special_minor=700)
    return "/account/storefront/prices", f"/account/storefront/prices/rules/{rule.id}/remove", rule.id


def _api_key():
    from tests.factories import make_api_key

    key = make_api_key(demo_org("Contoso Retail"), name="Contoso sync")  # a sub-chain's, by its main chain
    return "/account/api-keys", f"/account/api-keys/{key.id}/revoke", key.id


def _revoked(id_: int) -> bool:
    from portal.api_keys.models import ApiKey

    return db.session.get(ApiKey, id_).revoked_at is not None


def _gone(model) -> Callable[[int], bool]:
    return lambda id_: db.session.get(model, id_) is None


CASES = {
    "remove a card": Case("alice", _card, _gone(PaymentMethod)),
    "withdraw a transfer": Case("alice", _transfer,
                                lambda id_: db.session.get(TransferRequest, id_).status is TransferStatus.WITHDRAWN),
    "revoke a partner's access": Case("dave", _partner_access,
                                      lambda id_: db.session.get(PartnerGrant, id_).state is GrantState.REVOKED),
    "decline a partner's request": Case("dave", _partner_request,
                                        lambda id_: db.session.get(PartnerGrant, id_).state is GrantState.DECLINED),
    "deactivate a user": Case("alice", _user, lambda id_: not db.session.get(Membership, id_).active),
    "remove a contact": Case("alice", _contact, _gone(Contact)),
    "remove a location": Case("dave", _location, _gone(Location)),
    "remove a device": Case("dave", _device, _gone(Device)),
    "remove a tax rate": Case("ops", _tax_rate, _gone(TaxRate)),
    "deactivate a license's installation": Case(
        "alice", _activation, lambda id_: db.session.get(Activation, id_).deactivated_at is not None),
    "remove a storefront's special price": Case("alice", _price_rule, _gone(StorefrontPrice)),
    "revoke an API key": Case("alice", _api_key, _revoked),
}


def _post_forms(page: str) -> dict[str, str]:
    """The page's POST forms: action -> the form's HTML."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<form method="post" action="([^"]+)".*?</form>', page, re.S)}


def _arrange(app, case: Case) -> tuple[str, str, int]:
    with app.app_context():
        made = case.make()
        db.session.commit()
        return made


def _done(app, case: Case, id_: int) -> bool:
    with app.app_context():
        return case.done(id_)


@pytest.mark.parametrize("name", CASES)
def test_a_destructive_action_asks_on_its_own_page_and_acts_only_once_confirmed(app, demo, login, name):
    case = CASES[name]
    page_url, action, id_ = _arrange(app, case)
    client = login(case.user)

    page = client.get(page_url).get_data(as_text=True)
    assert f'href="{action}"' in page and f'hx-get="{action}"' in page, "the button is a link to the question"
    assert action not in _post_forms(page), "the list itself holds no form that acts at once"
    assert "hx-confirm" not in page

    asked = client.get(action)  # the first click: a question, nothing done
    assert asked.status_code == 200 and "HX-Request" in asked.headers.get("Vary", "")
    question = asked.get_data(as_text=True)
    assert "<!doctype html>" in question and "<dialog" not in question
    asked_page = Page.parse(action, question)
    assert "csrf_token" in asked_page.find(action)[0].names
    assert not _done(app, case, id_)

    refused = client.post(action, data={})  # a form without the page's token: refused, nothing done
    assert refused.status_code == 400
    assert not _done(app, case, id_)

    confirmed = client.submit(asked_page, action=action)  # the question's own form
    assert confirmed.status_code == 302
    assert _done(app, case, id_)


@pytest.mark.parametrize("name", ["remove a card", "remove a location", "remove a device"])
def test_with_htmx_the_question_is_a_modal_dialog_and_a_history_restore_the_page(app, demo, login, name):
    case = CASES[name]
    _, action, id_ = _arrange(app, case)
    client = login(case.user)

    fragment = client.get(action, headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<!doctype html>" not in html
    assert html.lstrip().startswith('<dialog class="modal confirm-dialog"')
    assert action in _post_forms(html) and 'name="csrf_token"' in _post_forms(html)[action]
    assert re.search(r'<(form|button)[^>]* (form)?method="dialog"', html), "Keep it closes the dialog, does nothing"
    assert not _done(app, case, id_)

    restored = client.get(action, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<!doctype html>" in restored.get_data(as_text=True)


def test_sign_out_everywhere_else_asks_first(app, demo, login):
    other = login("alice")  # alice signed in elsewhere too
    client = login("alice")
    page = client.get("/account/security").get_data(as_text=True)
    action = "/account/security/sessions/end-others"
    assert f'href="{action}"' in page and action not in _post_forms(page)
    question = client.get(action).get_data(as_text=True)
    assert "Sign out every other session?" in question
    assert other.get("/account/security").status_code == 200, "asking signed nobody out"
    assert client.post(action, data={}).status_code == 400  # without the page's token: refused
    assert other.get("/account/security").status_code == 200
    assert client.submit(Page.parse(action, question), action=action).status_code == 302
    assert other.get("/account/security").status_code == 302, "the other session is signed out"


# Endpoints whose names say they destroy or end something, and the few that are not destructive although they
# sound so (with why): a scan of every template must find their POST forms on their confirmation page only.
DESTRUCTIVE = re.compile(r"\.(\w*(remove|revoke|deactivate|withdraw|delete|decline|cancel|end_session|sign_out)\w*|"
                         r"recovery_codes)$")
NOT_DESTRUCTIVE = {
    "cart.remove": "a cart line: added again in a click, nothing bought or lost",
    "storefront_sales.remove": "a storefront cart line, likewise",
    "subscriptions.withdraw": "withdraws a scheduled change: the plan stays as it is now",
    "reseller_plans.plan_withdraw": "withdraws a pending plan change or cancellation: the plan stays as it is",
    "reseller_plans.plan_cancel": "its own confirmation page (reseller_plans/plan_cancel.html)",
    "api.deactivate": "the API's (JSON for a reseller's own systems): no page, no button",
}
OWN_CONFIRMATION_PAGES = {"reseller_plans/plan_cancel.html", "devices/_remove_device.html",
                          "admin/_remove_reseller_fee.html", "hardware/_cancel.html"}
_FORM_TAG = re.compile(r"<form\b[^>]*>", re.S)
_URL_FOR = re.compile(r"url_for\('([\w.]+)'")


def _acting_endpoints(text: str) -> set[str]:
    """Endpoints a template's POST forms, hx-post attributes and button_form() calls act on."""
    found = set()
    for tag in _FORM_TAG.findall(text):
        if re.search(r'method="post"', tag, re.I):
            found |= set(_URL_FOR.findall(re.search(r'action="([^"]*)"', tag).group(1) if 'action="' in tag else ""))
    for attr in re.findall(r'hx-(?:post|delete|put)="([^"]*)"', text):
        found |= set(_URL_FOR.findall(attr))
    found |= set(re.findall(r"button_form\(\s*url_for\('([\w.]+)'", text))
    return found


def test_the_scan_finds_a_form_that_acts_at_once():
    """The scan below can fail: a form posting to a destructive endpoint from a list is found."""
    found = _acting_endpoints("""<form method="post" action="{{ url_for('payments.remove', method_id=1) }}">
        {{ button_form(url_for('accounts.deactivate', membership_id=m.id), 'Deactivate', f) }}
        <button hx-post="{{ url_for('partners.revoke', grant_id=1) }}">""")
    assert found == {"payments.remove", "accounts.deactivate", "partners.revoke"}


def test_no_template_holds_a_form_that_destroys_without_asking(app):
    # the automation API's operations are called by programs, which confirm nothing: they are left out
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if not key_authenticated(app, rule.endpoint)}
    destructive = {e for e in endpoints if DESTRUCTIVE.search(e)} - NOT_DESTRUCTIVE.keys()
    assert {"payments.remove", "partners.revoke", "accounts.deactivate", "devices.remove_location",
            "transfers.withdraw", "admin.remove_tax_rate"} <= destructive
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name in OWN_CONFIRMATION_PAGES or name.startswith("email/"):
            continue
        text = path.read_text()
        assert "hx-confirm" not in text, f"{name}: hx-confirm on a plain form does nothing; ask on a page"
        offenders += [f"{name}: {e}" for e in sorted(_acting_endpoints(text) & destructive)]
    assert not offenders, f"destructive forms that act at once (link to the confirmation instead): {offenders}"
    for endpoint in destructive:  # each answers GET with its question
        methods = {m for rule in app.url_map.iter_rules(endpoint=endpoint) for m in rule.methods}
        assert "GET" in methods, f"{endpoint} has no confirmation page (GET)"


def test_a_grant_ends_only_for_the_side_that_asked(app, demo, login):
    """The partner gives up its access through the same question, worded for its side."""
    with app.app_context():
        grant = make_partner_grant(make_org("Woodgrove Bank"), demo_org("Northwind IT"), state=GrantState.ACTIVE,
                                   expires_on=date.today() + timedelta(days=200))
        db.session.commit()
        grant_id = grant.id
    client = login("alice")
    question = client.get(f"/account/partners/{grant_id}/revoke").get_data(as_text=True)
    assert "Give up this access now?" in question
