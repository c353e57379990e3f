"""SQL statements per page are deterministic: they must not grow with the data (no N+1 queries)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from portal.accounts.models import Organization, Role, User
from portal.audit.models import AuditEntry
from portal.diagnostics import count_statements
from portal.extensions import db
from tests.factories import make_cart_item, make_contact, make_member, make_order, make_org


def _grow_northwind(app, demo, n: int) -> None:
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        alice = db.session.get(User, demo.users["alice"])
        for i in range(n):
            make_order(northwind, alice)
            if i % 5 == 0:  # a cart holds at most a few items; the orders grow with every step
                make_cart_item(northwind, alice, slug=["mailsuite", "webstats", "livedesk", "device-protection"][i % 4])
            make_member(northwind, Role.MEMBER)
            make_contact(northwind)
            sub = make_org(parent=northwind)
            make_member(sub, Role.VIEWER)
            make_member(northwind, Role.INSTALLER)
            db.session.add(AuditEntry(action="x", object_type="X", object_id="1", organization_id=northwind.id))
        db.session.commit()


def _statements(app, client, url: str) -> int:
    with app.app_context(), count_statements(db.engine) as counted:
        response = client.get(url)
    assert response.status_code == 200, url
    return counted.count


# Statements per page for a signed-in manager: the session's user and memberships (2), the cart count in the
# header (1), then the page's own.
BUDGET = {"/account": 3, "/account/users": 6, "/account/chains": 4, "/account/partners": 5, "/account/audit": 5,
          "/shop": 6, "/shop/mailsuite": 6, "/cart": 7, "/checkout": 9, "/orders": 4}


@pytest.mark.parametrize("url", BUDGET)
def test_statements_per_page_do_not_grow_with_data(app, login, demo, url):
    alice = login("alice")
    _grow_northwind(app, demo, 2)
    small = _statements(app, alice, url)
    _grow_northwind(app, demo, 25)
    large = _statements(app, alice, url)
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == BUDGET[url], f"{url} takes {small} statements; its budget is {BUDGET[url]}"


def test_lazy_loads_are_forbidden_in_tests(ctx):
    org = make_org()
    make_member(org, Role.MEMBER)
    db.session.commit()
    db.session.expunge_all()
    user = db.session.scalars(select(User)).first()
    with pytest.raises(InvalidRequestError, match="raise_on_sql"):
        _ = user.memberships
