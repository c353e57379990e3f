"""Buying as a browser does, shared by the in-process pages (bench.measure) and the load test (bench.load).

- CART: the three items every probe buyer puts in its cart (two licenses and a subscription), added through
  POST /cart exactly as the product page's form sends them (`add_to_cart_form`);
- `checkout_form()`: the form a browser would post back from GET /checkout (CSRF token, hidden cart signature
  and expected total, the pre-filled billing fields); the caller adds `payment_kind` and, for a new card,
  `card_payment(payment_method_id)`;
- a new card as a browser with JavaScript enters it: the checkout page frames the processor's hosted fields
  (`card_fields_url`), whose script posts NEW_CARD with the publishable key as JSON to the processor's API
  (`payment_method_request`, from the fields document) and puts the payment method id it gets back into the
  checkout form's hidden `payment_method_id`; the card number never reaches the portal's form;
- `CartRefill`: puts the same cart rows back after a measured checkout consumed them, with one INSERT (no
  requests, no audit entries), so every timed POST /checkout finds a fresh cart of the same size.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from portal.cart.models import CartItem
from portal.catalog.models import AddOn, Edition, Product
from portal.db_types import utcnow


@dataclass(frozen=True)
class CartEntry:
    slug: str
    edition: str | None
    quantity: int
    addons: tuple[str, ...] = ()
    copies: int = 1


# 3 licenses (MailSuite x2, LiveDesk x1) and 10 device subscriptions: every kind of order line checkout writes.
CART: tuple[CartEntry, ...] = (
    CartEntry("mailsuite", "Professional", 25, ("antispam",), copies=2),
    CartEntry("livedesk", "Enterprise", 5, ("sms",)),
    CartEntry("device-protection", None, 10),
)
LICENSES_PER_CART = sum(e.copies for e in CART if e.edition is not None)

# A new card the sandbox processor approves (portal/sandbox_processor/processor.py), as typed into its hosted fields:
# their script sends every field as the text typed.
NEW_CARD = {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": str(date.today().year + 1), "cvc": "123",
            "name": "Bench Buyer"}

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_INPUT = re.compile(r"<input\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'([\w-]+)="([^"]*)"')
_CARD_FIELDS = re.compile(r'data-card-fields="([^"]+)"')
_FIELDS_FORM = re.compile(r"<form\b[^>]*\bdata-sandbox-fields\b[^>]*>", re.IGNORECASE)
# The payment choice is the caller's (radio buttons and a checkbox); the hidden payment_method_id is sent as the
# page has it (empty) unless the caller puts a new card's id there.
_CHECKOUT_SKIP = {"save_card", "payment_kind", "saved_card"}


def card_payment(payment_method_id: str) -> dict:
    """The checkout form's payment choice for a new card the hosted fields turned into `payment_method_id`."""
    return {"payment_kind": "card", "saved_card": "0", "payment_method_id": payment_method_id}


def card_fields_url(page: str) -> str:
    """The processor's hosted card fields a portal page frames (its new-card block's data-card-fields)."""
    match = _CARD_FIELDS.search(page)
    if not match:
        raise ValueError("no hosted card fields on the page (is a card processor with hosted fields configured?)")
    return html.unescape(match.group(1))


def payment_method_request(fields_page: str) -> tuple[str, dict]:
    """What the hosted fields' script posts when the buyer confirms NEW_CARD: (endpoint, JSON body), read from
    the fields document (its form's data-endpoint and data-publishable-key)."""
    match = _FIELDS_FORM.search(fields_page)
    attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(match.group(0))} if match else {}
    if not attrs.get("data-endpoint") or not attrs.get("data-publishable-key"):
        raise ValueError("not the processor's hosted card fields (no endpoint or publishable key)")
    return attrs["data-endpoint"], {"key": attrs["data-publishable-key"], **NEW_CARD}


@dataclass(frozen=True)
class CatalogIds:
    """The database ids behind product slugs, edition names and add-on slugs."""

    products: dict[str, int]
    editions: dict[tuple[str, str], int]
    addons: dict[tuple[str, str], int]

    def add_to_cart_form(self, entry: CartEntry) -> dict:
        """The fields the product page's "Add to cart" form posts for `entry` (CSRF token not included)."""
        form: dict = {"product_id": self.products[entry.slug], "quantity": entry.quantity, "copies": entry.copies,
                      "addons": [self.addons[entry.slug, a] for a in entry.addons]}
        if entry.edition is not None:
            form["edition"] = self.editions[entry.slug, entry.edition]
        return form

    def price_query(self) -> str:
        """The query string the MailSuite configurator sends when a choice changes (Enterprise, 50 mailboxes,
        two add-ons): with HX-Request the page answers with the price fragment only."""
        addons = "&".join(f"addons={self.addons['mailsuite', a]}" for a in ("antispam", "archiving"))
        return f"edition={self.editions['mailsuite', 'Enterprise']}&quantity=50&{addons}"


def catalog_ids(engine: Engine) -> CatalogIds:
    with engine.connect() as conn:
        products = dict(conn.execute(select(Product.slug, Product.id)).all())
        editions = {(slug, name): id_ for slug, name, id_ in conn.execute(
            select(Product.slug, Edition.name, Edition.id).join(Edition, Edition.product_id == Product.id))}
        addons = {(slug, addon): id_ for slug, addon, id_ in conn.execute(
            select(Product.slug, AddOn.slug, AddOn.id).join(AddOn, AddOn.product_id == Product.id))}
    return CatalogIds(products, editions, addons)


def csrf_token(page: str) -> str:
    match = _CSRF_META.search(page)
    if not match:
        raise ValueError("no CSRF token on the page (is the user still signed in?)")
    return match.group(1)


def checkout_form(page: str) -> dict:
    """What a browser posts back from the checkout page: every text and hidden input as rendered (CSRF token,
    cart_signature, expected_total, the billing fields, the empty payment_method_id), without a payment choice."""
    form = {}
    for tag in _INPUT.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        name = attrs.get("name")
        if name and name not in _CHECKOUT_SKIP and attrs.get("type", "text") in {"text", "hidden", "email", "tel"}:
            form[name] = attrs.get("value", "")
    if "cart_signature" not in form or "expected_total" not in form:
        raise ValueError("not a checkout page (no cart signature): is the cart empty?")
    return form


class CartRefill:
    """Copies of one user's cart rows, to put back after a checkout consumed them (new ids, today's times)."""

    def __init__(self, engine: Engine, user_id: int, organization_id: int):
        self.engine = engine
        table = CartItem.__table__
        keep = ("user_id", "organization_id", "product_id", "edition_id", "quantity", "copies", "addon_ids",
                "quoted_list_minor")
        with engine.connect() as conn:
            rows = conn.execute(select(*(table.c[k] for k in keep))
                                .where(table.c.user_id == user_id, table.c.organization_id == organization_id)
                                .order_by(table.c.id)).mappings().all()
        if not rows:
            raise ValueError(f"user {user_id} has nothing in the cart of organization {organization_id}")
        self.rows = [dict(row) for row in rows]

    def refill(self) -> None:
        """The cart exactly as copied: whatever is in it now (nothing, after a checkout) is replaced."""
        table = CartItem.__table__
        owner = self.rows[0]
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.user_id == owner["user_id"],
                                             table.c.organization_id == owner["organization_id"]))
            conn.execute(insert(table), [{**row, "created_at": now, "updated_at": now} for row in self.rows])
