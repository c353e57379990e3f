"""The portal never receives a card number (issue 21): "A test posts a card number to every portal route and finds
it neither accepted nor logged; the portal's pages contain no input for a card number."

Every route that takes a POST (the processor's own pages, `sandbox_processor.*`, are the processor's side and
left out) is sent card-like fields, as a signed-in manager and anonymously, with the session's CSRF token so that
the views, not the token check, read them. The card numbers must then appear in no log record (every logger, at
DEBUG), in no text the database holds, in no email and in no answer. The pages that take a payment have no input
a browser would fill with a card number: the card is typed in the processor's hosted fields or on its page.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import JSON, String, Text, select

from portal.extensions import db
from portal.outbox.background import wait_for_outbox
from portal.storefronts.models import Storefront
from tests.factories import demo_org, demo_user, make_cart_item, make_invoice
from tests.test_route_access import SIGN_OUTS, _url, targets  # noqa: F401 - targets is the fixture used below

CARDS = ("4242 4242 4242 4242", "5555 5555 5555 4444", "3782 822463 10005", "4000 0027 6000 3184",
         "4000 0000 0000 0002")
# The names a form or a script would give a card's fields, with a card number (spaced or not), expiry and code.
CARD_FIELDS = {"card_number": CARDS[0], "number": CARDS[1].replace(" ", ""), "cc-number": CARDS[2], "pan": CARDS[3],
               "cardnumber": CARDS[4].replace(" ", ""), "card[number]": CARDS[0].replace(" ", ""),
               "exp_month": "12", "exp_year": "2031", "cc-exp": "12/31", "cvc": "123", "cvv": "123",
               "holder_name": "Card Holder"}
# A number with or without spaces (or dashes) between its digits.
CARD_PATTERN = re.compile("|".join(r"[\s-]?".join(card.replace(" ", "")) for card in CARDS))
POSTING = {"POST", "PUT", "PATCH"}
PROCESSOR_SIDE = ("sandbox_processor.", "static")


def card_number_in(text: str) -> str | None:
    found = CARD_PATTERN.search(text or "")
    return found.group(0) if found else None


def posting_routes(app) -> list:
    """Every rule that accepts a POST, PUT or PATCH, except the processor's side and static files."""
    return [(rule, method) for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule))
            if not rule.endpoint.startswith(PROCESSOR_SIDE) for method in sorted(rule.methods & POSTING)]


def text_columns() -> list:
    """Every text and JSON column of the database's tables."""
    return [column for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, String | Text | JSON)]


def database_texts() -> list[tuple[str, str]]:
    """Every text and JSON value the database holds, with where it is: (table.column, value)."""
    found = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        for row in db.session.execute(select(*columns)) if columns else ():
            found.extend((f"{table.name}.{column.name}", str(value))
                         for column, value in zip(columns, row, strict=True) if value is not None)
    return found


def test_the_database_scan_reads_the_columns_a_card_number_could_slip_into(app):
    with app.app_context():
        scanned = {f"{column.table.name}.{column.name}" for column in text_columns()}
    assert {"audit_entry.details", "outbox_message.body_text", "outbox_message.subject", "purchase_order.billing",
            "payment_intent.details", "payment_method.holder_name", "invoice_payment.reference"} <= scanned


@pytest.fixture
def all_logs(caplog):
    """Every record of every logger, DEBUG and up: loggers that do not propagate to the root get the capturing
    handler too."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level > logging.DEBUG:  # SQLAlchemy's WARNING among them
            caplog.set_level(logging.DEBUG, logger=name)
    detached = [logger for logger in logging.Logger.manager.loggerDict.values()
                if isinstance(logger, logging.Logger) and not logger.propagate]
    for logger in detached:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in detached:
        logger.removeHandler(caplog.handler)


def _send(client, method: str, url: str, token: str):
    data = {**CARD_FIELDS, "csrf_token": token}
    if url.startswith(("/api/", "/payments/webhook")):  # JSON endpoints: the same fields as a JSON body
        return [client.open(url, method=method, data=data), client.open(url, method=method, json=data)]
    return [client.open(url, method=method, data=data)]


@pytest.mark.parametrize("user", ["alice", "anonymous"])
def test_a_card_number_posted_to_every_route_is_neither_kept_logged_nor_sent_back(
        app, login, targets, mailbox, all_logs, user):  # noqa: F811 - targets: the route matrix's fixture
    client = app.test_client() if user == "anonymous" else login(user)
    token = client.csrf_token()
    routes = posting_routes(app)
    assert len(routes) > 100 and "orders.checkout" in {rule.endpoint for rule, _ in routes}
    problems = []
    for rule, method in routes:
        url = _url(app, rule, user, targets)
        for response in _send(client, method, url, token):
            shown = card_number_in(response.get_data(as_text=True))
            shown = shown or card_number_in(" ".join(f"{k}: {v}" for k, v in response.headers.items()))
            if shown:
                problems.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code} shows {shown!r}")
            if response.status_code >= 500:
                problems.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code}")
            response.close()
        if rule.endpoint in SIGN_OUTS:  # the session (and its token) ended: sign in again
            client = app.test_client() if user == "anonymous" else login(user)
            token = client.csrf_token()
    wait_for_outbox()

    for record in all_logs.records:
        shown = card_number_in(record.getMessage()) or card_number_in(str(record.args))
        if shown:
            problems.append(f"logged by {record.name}: {record.getMessage()[:300]}")
    if card_number_in(all_logs.text):  # tracebacks included
        problems.append(f"in the captured log: {card_number_in(all_logs.text)!r}")
    with app.app_context():
        texts = database_texts()
    problems += [f"stored in {where}: {value[:200]}" for where, value in texts if card_number_in(value)]
    problems += [f"emailed to {m['To']}" for m in mailbox.messages if card_number_in(m.as_string())]
    assert not problems, f"{user}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- the payment pages


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inputs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("input", "select", "textarea"):
            self.inputs.append({"tag": tag, **{name: value or "" for name, value in attrs}})


def inputs(html: str) -> list[dict]:
    parser = _Inputs()
    parser.feed(html)
    parser.close()
    return parser.inputs


CARD_NAMES = {"card_number", "cardnumber", "card-number", "number", "cc-number", "cc_number", "ccnumber", "pan",
              "cvc", "cvv", "csc", "exp_month", "exp_year", "cc-exp"}
CARD_AUTOCOMPLETE = {"cc-number", "cc-csc", "cc-exp", "cc-exp-month", "cc-exp-year"}


def card_inputs(html: str) -> list[dict]:
    """The inputs a browser would fill with a card's number, code or expiry (by name, id or autocomplete)."""
    return [i for i in inputs(html) if {i.get("name", "").lower(), i.get("id", "").lower()} & CARD_NAMES
            or set(i.get("autocomplete", "").lower().split()) & CARD_AUTOCOMPLETE]


@pytest.fixture
def payment_pages(app, login, demo) -> dict[str, str]:
    """Every portal page with a payment form, as a signed-in manager (alice) and a storefront customer (carol)
    see it: the checkout (with a cart), Pay invoice, the payment methods and the storefront's checkout."""
    with app.app_context():
        northwind, alice, carol = demo_org("Northwind IT"), demo_user("alice"), demo_user("carol")
        make_cart_item(northwind, alice)
        invoice = make_invoice(northwind).number
        line = make_cart_item(demo_org("Contoso Retail"), carol)
        line.storefront_id = db.session.scalars(select(Storefront.id).where(Storefront.alias == "northwind")).one()
        db.session.commit()
    alice, carol = login("alice"), login("carol")
    pages = {url: alice.get(url) for url in ("/checkout", f"/invoices/{invoice}/pay", "/payment-methods")}
    pages["/s/northwind/checkout"] = carol.get("/s/northwind/checkout")
    for url, response in pages.items():
        assert response.status_code == 200, f"{url}: {response.status_code}"
    return {url: response.get_data(as_text=True) for url, response in pages.items()}


def test_the_payment_pages_have_no_input_for_a_card_number(payment_pages):
    for url, html in payment_pages.items():
        names = {i.get("name") for i in inputs(html)}
        # A payment form: the hosted fields fill payment_method_id (a new card on /payment-methods; a saved card
        # or a new one elsewhere) and frame the processor's card fields.
        assert "payment_method_id" in names, f"{url} has no payment form: {sorted(n for n in names if n)}"
        assert url == "/payment-methods" or "saved_card" in names, url
        assert "/sandbox-processor/fields?key=" in html, f"{url} frames no hosted fields"
        assert not card_inputs(html), f"{url}: {card_inputs(html)}"


def test_the_input_check_finds_a_card_number_field():
    """The check above would see a card number field, by its name or by what the browser's autofill fills."""
    assert card_inputs('<form><input name="card_number"></form>')
    assert card_inputs('<input type="tel" name="x" autocomplete="billing cc-number">')
    assert card_inputs('<input id="cvc" name="security">')
    assert not card_inputs('<input name="payment_method_id" type="hidden"><input name="purchase_order_number">')
