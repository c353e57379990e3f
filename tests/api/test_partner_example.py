"""examples/partner_shop.py, run as a partner runs it: a separate process talking HTTP to a live portal with an API
key, listing the catalog, buying a license for a customer's email and printing its key and the invoice number."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.accounts.models import Membership, User
from portal.api_keys.models import Scope
from portal.billing.models import Invoice
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import Order
from tests.api.conftest import new_key

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "partner_shop.py"
CUSTOMER = "it@harbor-dental.example.com"


@pytest.fixture
def live_portal(app, demo) -> Iterator[str]:
    """The test app with the demo data on 127.0.0.1 (a free port picked by the OS), as tests/browser serves it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="partner-example-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _key(app, scopes=(Scope.CATALOG_READ, Scope.ORDERS_WRITE, Scope.LICENSES_WRITE)) -> str:
    with app.app_context():
        token = new_key("alice", scopes=scopes)
        db.session.remove()
    return token


def _run(base_url: str, api_key: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"PORTAL_API_KEY", "PORTAL_URL"}}
    if api_key:
        env["PORTAL_API_KEY"] = api_key
    return subprocess.run([sys.executable, str(SCRIPT), "--base-url", base_url, *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_example_buys_a_license_for_a_customer_and_prints_its_key_and_invoice(app, live_portal):
    run = _run(live_portal, _key(app), "--customer-email", CUSTOMER, "--product", "webstats",
               "--edition", "Standard", "--quantity", "5")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Catalog (your prices):" in run.stdout and "webstats" in run.stdout
    [key] = re.findall(r"^License (\S+) assigned to (\S+)$", run.stdout, re.M)
    invoice_number = re.search(r"^Invoice (\S+)$", run.stdout, re.M).group(1)
    assert key[1] == CUSTOMER
    with app.app_context():
        license_ = db.session.scalars(select(License).where(License.key == key[0])).one()
        holders = db.session.scalars(
            select(User.email).join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id == license_.customer_id)).all()
        assert CUSTOMER in holders  # assigned to that email's organization, as the licenses page assigns
        invoice = db.session.scalars(select(Invoice).where(Invoice.number == invoice_number)).one()
        order = db.session.get(Order, invoice.order_id)
        assert order.organization_id == license_.owner_id  # alice's Northwind bought it and is invoiced


def test_the_example_defaults_to_the_catalogs_first_license(app, live_portal):
    run = _run(live_portal, _key(app), "--customer-email", CUSTOMER)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(rf"^License \S+ assigned to {re.escape(CUSTOMER)}$", run.stdout, re.M)


def test_the_example_says_what_the_problem_is_and_exits_1(app, live_portal):
    without_scope = _run(live_portal, _key(app, scopes=(Scope.CATALOG_READ,)), "--customer-email", CUSTOMER)
    assert without_scope.returncode == 1
    assert without_scope.stderr.startswith("error: ") and "scope" in without_scope.stderr
    assert "Traceback" not in without_scope.stderr

    unknown_edition = _run(live_portal, _key(app), "--customer-email", CUSTOMER, "--product", "webstats",
                           "--edition", "Platinum")
    assert unknown_edition.returncode == 1 and "(field: items.0.edition)" in unknown_edition.stderr, (
        unknown_edition.stderr)

    unknown_key = _run(live_portal, "ppk_00000000_not-a-key", "--customer-email", CUSTOMER)
    assert unknown_key.returncode == 1 and "unknown, revoked or expired" in unknown_key.stderr
    with app.app_context():
        assert db.session.scalars(select(Order)).first() is None  # nothing was bought


def test_the_example_needs_a_key(live_portal):
    run = _run(live_portal, None, "--customer-email", CUSTOMER)
    assert run.returncode == 2 and "PORTAL_API_KEY" in run.stderr
