"""Builders for tests: each call returns fresh objects (unique names and emails)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.models import BillingMode, Contact, Membership, Organization, Role, User
from portal.accounts.passwords import hash_password
from portal.audit.services import Actor
from portal.extensions import db

DEMO_EMAILS = {
    "ops": "ops@vendor.example.com",
    "alice": "alice@northwind.example.com",
    "bob": "bob@northwind.example.com",
    "carol": "carol@contoso.example.com",
    "dave": "dave@fabrikam.example.com",
    "erin": "erin@northwind.example.com",
    "frank": "frank@litware.example.com",
}
_seq = itertools.count(1)


def two_step_code(email: str) -> str:
    """The code the user's authenticator app shows now (in an application context). The suite signs one user in
    several times within a code's 30 seconds, where a person would wait for the next code: the replay guard
    (tests/signin/test_two_step.py tests it) is reset for them here."""
    import pyotp

    from portal.signin.models import TwoStepCredential
    from portal.signin.two_step import secret_of

    user = db.session.scalars(select(User).where(User.email == email)).one()
    credential = db.session.get(TwoStepCredential, user.id)
    credential.last_counter = None
    db.session.commit()
    return pyotp.TOTP(secret_of(credential)).now()


def make_two_step(user: User) -> str:
    """Two-step sign-in turned on for `user` (as if set up and confirmed); the authenticator's secret."""
    import pyotp

    from portal.db_types import utcnow
    from portal.signin.two_step import start_setup

    secret = pyotp.random_base32()
    start_setup(user, secret).confirmed_at = utcnow()
    db.session.flush()
    return secret


def demo_org(name: str) -> Organization:
    """A demo organization by name (in an application context)."""
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


def demo_user(name: str) -> User:
    """A demo user by short name ("alice", …)."""
    return db.session.scalars(select(User).where(User.email == DEMO_EMAILS[name])).one()


@dataclass(frozen=True)
class DemoIds:
    """Ids of the demo's organizations, users and memberships (plain values, safe across sessions)."""

    orgs: dict[str, int]
    users: dict[str, int]
    memberships: dict[tuple[str, str], int]  # (user name, org name) -> membership id

    @classmethod
    def load(cls) -> DemoIds:
        orgs = {o.name: o.id for o in db.session.scalars(select(Organization))}
        users = {name: db.session.scalars(select(User.id).where(User.email == email)).one()
                 for name, email in DEMO_EMAILS.items()}
        by_id = {v: k for k, v in users.items()}
        org_names = {v: k for k, v in orgs.items()}
        memberships = {(by_id[m.user_id], org_names[m.organization_id]): m.id
                       for m in db.session.scalars(select(Membership)) if m.user_id in by_id}
        return cls(orgs, users, memberships)


def make_org(name: str | None = None, parent: Organization | None = None, **fields) -> Organization:
    n = next(_seq)
    name = name or f"Org {n}"
    org = Organization(name=name, legal_name=f"{name} Inc.", parent=parent, address_line1=f"{n} Main Street",
                       city="Springfield", postal_code="12345", country="US",
                       invoice_email=f"billing{n}@example.com", phone="+1 555 0100",
                       billing_mode=fields.pop("billing_mode", BillingMode.PAY_ON_ORDER), **fields)
    db.session.add(org)
    db.session.flush()
    return org


def make_user(email: str | None = None, password: str | None = "a-long-password", **fields) -> User:  # noqa: S107
    n = next(_seq)
    user = User(email=email or f"user{n}@example.com", full_name=fields.pop("full_name", f"User {n}"),
                password_hash=hash_password(password) if password else None, **fields)
    db.session.add(user)
    db.session.flush()
    return user


def make_member(org: Organization, role: Role = Role.MEMBER, user: User | None = None) -> Membership:
    membership = Membership(user=user or make_user(), organization=org, role=role)
    db.session.add(membership)
    db.session.flush()
    return membership


def make_contact(org: Organization) -> Contact:
    n = next(_seq)
    contact = Contact(organization_id=org.id, full_name=f"Contact {n}", email=f"contact{n}@example.com")
    db.session.add(contact)
    db.session.flush()
    return contact


def actor(user: User | None = None, ip: str = "192.0.2.1") -> Actor:
    return Actor(user.id if user else None, ip)


# ---------------------------------------------------------------- buying


def demo_product(slug: str = "mailsuite"):
    from portal.catalog.services import product_by_slug

    return product_by_slug(slug)


def make_cart_item(org: Organization, user: User, slug: str = "mailsuite", copies: int = 1):
    """A cart item of the demo catalog (the second edition at the smallest quantity, no add-ons)."""
    from portal.cart.models import CartItem
    from portal.catalog.services import configure

    product = demo_product(slug)
    edition = product.editions[1] if product.is_license else None
    quantity = sorted(product.quantities)[0] if product.is_license else 3
    config = configure(product, edition.id if edition else None, quantity, [])
    item = CartItem(user_id=user.id, organization_id=org.id, product_id=product.id,
                    edition_id=edition.id if edition else None, quantity=quantity, copies=copies, addon_ids=[],
                    quoted_list_minor=config.list_minor)
    db.session.add(item)
    db.session.flush()
    return item


def processor_card(number: str = "4242 4242 4242 4242", holder_name: str = "Card Holder") -> str:
    """A card as the processor's hosted fields take it, in the buyer's browser: its payment method id (the sandbox
    processor writes on a connection of its own, as a real processor keeps its records on its side)."""
    from datetime import date

    from portal.sandbox_processor.processor import sandbox_processor

    digits = number.replace(" ", "")
    cvc = "1234" if digits.startswith(("34", "37")) else "123"
    return sandbox_processor().create_payment_method(number, 12, date.today().year + 3, cvc,
                                                     holder_name).payment_method_id


def make_payment_method(org: Organization, last4: str = "4242"):
    from portal.payments.models import CardBrand, PaymentMethod

    method = PaymentMethod(organization_id=org.id, brand=CardBrand.VISA, last4=last4, exp_month=12, exp_year=2099,
                           holder_name="Card Holder", gateway_token=f"tok_test_{next(_seq)}")
    db.session.add(method)
    db.session.flush()
    return method


def make_order(org: Organization, user: User, seller: Organization | None = None):
    """A placed order record (no licenses or invoice): enough to look it up by number. `seller`: a reseller's
    storefront sale."""
    from portal.orders.models import Order, PaymentKind

    n = next(_seq)
    order = Order(number=f"ORD-T{n:07d}", organization_id=org.id, placed_by_id=user.id, idempotency_key=f"key-{n}",
                  payment_kind=PaymentKind.INVOICE, currency="USD", discount_bp=0, subtotal_minor=1000,
                  discount_minor=0, tax_minor=0, total_minor=1000, billing={"legal_name": org.legal_name},
                  seller_id=seller.id if seller else None)
    db.session.add(order)
    db.session.flush()
    return order


# ---------------------------------------------------------------- licenses (modification and activation, issue 4)


def make_license(owner: Organization, customer: Organization | None = None, slug: str = "mailsuite",
                 edition: str = "Professional", quantity: int = 25, addons: tuple[str, ...] = (),
                 ms_expires_on=None):
    """A license of the demo catalog owned by `owner` (assigned to `customer` when given), M&S for a year."""
    from datetime import timedelta

    from portal.db_types import utcnow
    from portal.licenses.keys import generate_key
    from portal.licenses.models import License

    product = demo_product(slug)
    license_ = License(key=generate_key(), owner_id=owner.id, customer_id=customer.id if customer else None,
                       product_id=product.id, edition_id=next(e.id for e in product.editions if e.name == edition),
                       quantity=quantity, ms_expires_on=ms_expires_on or utcnow().date() + timedelta(days=200),
                       addons=[a for a in product.addons if a.slug in addons])
    db.session.add(license_)
    db.session.flush()
    return license_


def make_activation(license_, installation_id: str | None = None):
    """An active activation of `license_` on an installation."""
    from portal.licenses.models import Activation

    activation = Activation(license_id=license_.id, installation_id=installation_id or f"install-{next(_seq)}")
    db.session.add(activation)
    db.session.flush()
    return activation


# ---------------------------------------------------------------- invoices (issue 5)


def make_invoice(org: Organization, status=None, total_minor: int = 12_000, issued_on=None, due_on=None,
                 summary=False, tax_category: str = "Z"):
    """An issued invoice of `org` with one line and the next number of its series (unpaid, due in 30 days, by
    default; an order invoice unless `summary`)."""
    from datetime import timedelta

    from portal.billing.models import Invoice, InvoiceLine, InvoiceSeries, InvoiceStatus
    from portal.billing.services import buyer_snapshot, next_number
    from portal.db_types import utcnow

    series = InvoiceSeries.SUMMARY if summary else InvoiceSeries.ORDER
    status = status or InvoiceStatus.UNPAID
    issued_on = issued_on or utcnow().date()
    if due_on is None and status in (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING):
        due_on = issued_on + timedelta(days=30)
    sequence = next_number(series)
    invoice = Invoice(series=series, sequence=sequence, number=f"{series.prefix}-{sequence:06d}",
                      organization_id=org.id, status=status, currency="USD", subtotal_minor=total_minor,
                      discount_minor=0, tax_minor=0, total_minor=total_minor, issued_on=issued_on, due_on=due_on,
                      buyer=buyer_snapshot(org), period=f"{issued_on:%Y-%m}" if summary else None,
                      paid_at=utcnow() if status is InvoiceStatus.PAID else None)
    invoice.lines = [InvoiceLine(position=1, description="MailSuite Mail Server Professional, 25 mailboxes",
                                 quantity=1, unit_price_minor=total_minor, list_minor=total_minor,
                                 tax_category=tax_category, total_minor=total_minor)]
    db.session.add(invoice)
    db.session.flush()
    return invoice


def make_receipt(org: Organization, total_minor: int = 12_000, method: str = "card",
                 reference: str = "Visa ending 4242", received_at=None):
    """A paid order invoice of `org` and the receipt of its payment (by card unless `method` says otherwise),
    through the receipts service: numbered, audited and emailed to the invoice contact like a real one."""
    from portal.billing.models import InvoicePayment, InvoiceStatus, PaymentMethodKind
    from portal.db_types import utcnow
    from portal.receipts.services import issue_receipt

    invoice = make_invoice(org, status=InvoiceStatus.PAID, total_minor=total_minor)
    payment = InvoicePayment(invoice_id=invoice.id, amount_minor=total_minor, method=PaymentMethodKind(method),
                             reference=reference, received_at=received_at or utcnow())
    db.session.add(payment)
    db.session.flush()
    return issue_receipt([(invoice, payment)], actor())


# ---------------------------------------------------------------- subscriptions (Manage Subscriptions, issue 6)


def make_subscription(org: Organization, slug: str = "device-protection", quantity: int = 8, expires_on=None,
                      next_payment_on=None):
    """A plan of the demo catalog for the main chain `org` (Device Protection by default), started today."""
    from datetime import timedelta

    from portal.db_types import utcnow
    from portal.subscriptions.models import Subscription

    today = utcnow().date()
    subscription = Subscription(organization_id=org.id, product_id=demo_product(slug).id, quantity=quantity,
                                started_on=today, next_payment_on=next_payment_on or today + timedelta(days=30),
                                expires_on=expires_on)
    db.session.add(subscription)
    db.session.flush()
    return subscription



def make_renewal(subscription, period_start, period_end, invoice=None, method: str = "card",
                 state: str = "paid", attempts: int = 1, next_attempt_on=None, past_due_on=None,
                 last_message: str = ""):
    """A period of `subscription` billed by the renewal run: its Renewal row on a renewal invoice (a new unpaid one
    of the plan's organization unless given) and, if `state`, that invoice's RenewalCollection."""
    from portal.billing.models import InvoiceStatus
    from portal.recurring.models import CollectionMethod, CollectionState, Renewal, RenewalCollection

    org = db.session.get(Organization, subscription.organization_id)
    if invoice is None:
        invoice = make_invoice(org, status=InvoiceStatus.PAID if state == "paid" else None,
                               issued_on=period_start)
    renewal = Renewal(organization_id=org.id, subscription_id=subscription.id, product_id=subscription.product_id,
                      quantity=subscription.quantity, period_start=period_start, period_end=period_end,
                      invoice_id=invoice.id, position=1)
    db.session.add(renewal)
    if state and db.session.get(RenewalCollection, invoice.id) is None:
        db.session.add(RenewalCollection(invoice_id=invoice.id, organization_id=org.id,
                                         method=CollectionMethod(method), state=CollectionState(state),
                                         attempts=attempts, next_attempt_on=next_attempt_on,
                                         past_due_on=past_due_on, last_message=last_message))
    db.session.flush()
    return renewal


# ---------------------------------------------------------------- account transfers (issue 6)

SAMPLE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_transfer(requester: Organization, sub_chain: Organization, requested_by: User | None = None,
                  status=None, manager_email: str | None = None):
    """A transfer request of `sub_chain` by `requester`, its authorization stored as the service stores one."""
    import secrets
    from pathlib import Path

    from flask import current_app

    from portal.transfers.models import TransferRequest, TransferStatus
    from portal.transfers.services import UPLOAD_FOLDER

    n = next(_seq)
    relative = f"{UPLOAD_FOLDER}/{secrets.token_hex(16)}.pdf"
    path = Path(current_app.instance_path) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SAMPLE_PDF)
    transfer = TransferRequest(
        requester_id=requester.id, sub_chain_id=sub_chain.id, requested_by_id=(requested_by or make_user()).id,
        status=status or TransferStatus.REQUESTED, legal_name=f"{sub_chain.name} Holdings {n} Ltd",
        address_line1=f"{n} Transfer Street", city="Tacoma", region="WA", postal_code="98402", country="US",
        invoice_email=f"invoices{n}@example.com", phone="+1 253 555 0199",
        manager_email=manager_email or f"manager{n}@example.com", authorization_path=relative,
        authorization_filename="authorization.pdf", authorization_size=len(SAMPLE_PDF),
    )
    db.session.add(transfer)
    db.session.flush()
    return transfer


# ---------------------------------------------------------------- locations and devices (issue 6)


def make_location(org: Organization, name: str | None = None, address: str = ""):
    from portal.devices.models import Location

    location = Location(organization_id=org.id, name=name or f"Location {next(_seq)}", address=address)
    db.session.add(location)
    db.session.flush()
    return location


def make_device(location, name: str | None = None, counts: bool = True, added_by: User | None = None):
    """A device at `location`, in the location's organization (as the services keep it)."""
    from portal.devices.models import Device

    n = next(_seq)
    device = Device(organization_id=location.organization_id, location_id=location.id, name=name or f"Device {n}",
                    serial_number=f"SN-{n:06d}", counts=counts, added_by_id=added_by.id if added_by else None)
    db.session.add(device)
    db.session.flush()
    return device


def make_partner_grant(customer: Organization, partner: Organization, state=None, assign=(), expires_on=None,
                       starts_on=None):
    """A partner grant customer -> partner (requested unless `state` says otherwise) with `assign`ed users."""
    from datetime import date, timedelta

    from portal.partners.models import GrantState, PartnerAssignment, PartnerGrant

    state = state or GrantState.REQUESTED
    today = date.today()
    grant = PartnerGrant(customer=customer, partner=partner, requested_email="", roles=Role.INSTALLER.value,
                         state=state, expires_on=expires_on or today + timedelta(days=365),
                         starts_on=starts_on or (today if state is not GrantState.REQUESTED else None))
    db.session.add(grant)
    db.session.flush()
    for user in assign:
        db.session.add(PartnerAssignment(grant_id=grant.id, user_id=user.id))
    db.session.flush()
    return grant


# ---------------------------------------------------------------- storefronts (issue 14)


def make_png(width: int = 40, height: int = 20, colour: str = "#0b7a75", fmt: str = "PNG") -> bytes:
    """An image file of that size (PNG by default; JPEG, WEBP), as a reseller uploads its logo."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format=fmt)
    return out.getvalue()


def make_price_rule(storefront, slug: str = "mailsuite", markup_bp: int | None = 1000, special_minor=None,
                    customer: Organization | None = None, edition=None):
    """A price rule of `storefront` on a demo product (a markup of 10 % by default)."""
    from portal.storefronts.models import StorefrontPrice

    rule = StorefrontPrice(storefront_id=storefront.id, product_id=demo_product(slug).id,
                           edition_id=edition.id if edition is not None else None,
                           customer_id=customer.id if customer is not None else None,
                           markup_bp=None if special_minor is not None else markup_bp, special_minor=special_minor)
    db.session.add(rule)
    db.session.flush()
    return rule


def make_storefront_invoice(storefront, customer: Organization, total_minor: int = 12_000):
    """A reseller's invoice to its storefront customer (its own series, its name as seller), paid by card, with one
    line, issued as a storefront sale issues it."""
    from portal.billing.models import InvoiceStatus
    from portal.billing.services import IssuedLine, Issuer, buyer_snapshot, issue_invoice
    from portal.db_types import utcnow
    from portal.storefront_sales.invoicing import invoice_prefix, reseller_seller

    line = IssuedLine("MailSuite Mail Server Professional, 25 mailboxes", 1, total_minor, total_minor, 0, "Z", 0, 0,
                      total_minor)
    return issue_invoice(customer.id, buyer_snapshot(customer), "USD", [line], InvoiceStatus.PAID, None,
                         "Paid by Visa ending 4242.", utcnow().date(), paid_at=utcnow(),
                         seller=reseller_seller(storefront),
                         issuer=Issuer(storefront.organization_id, invoice_prefix(storefront)))


def without_reseller_fees() -> None:
    """The catalog with no reseller fee (the demo's MailSuite bears one): for tests of the summary's mechanics,
    whose counts of summaries and lines a fee-only summary of a demo reseller would change."""
    from sqlalchemy import update

    from portal.catalog.models import Product
    from portal.extensions import db

    db.session.execute(update(Product).values(reseller_fee_minor=None))
    db.session.commit()


# ---------------------------------------------------------------- hardware: shipments and returns (issue 20)


def make_hardware_product(name: str | None = None, unit_price_minor: int = 34_900, becomes_device: bool = True,
                          ships_to=("US", "CA"), **fields):
    """A hardware product with its own SKU (shipping per unit and per order unless given)."""
    from portal.catalog.models import Product, ProductKind

    n = next(_seq)
    product = Product(slug=f"hw-{n}", name=name or f"Counter {n}", kind=ProductKind.HARDWARE, unit_label="units",
                      sku=f"HW{n:04d}", unit_price_minor=unit_price_minor, currency="USD", ships_to=list(ships_to),
                      becomes_device=becomes_device,
                      shipping_per_order_minor=fields.pop("shipping_per_order_minor", 1_500),
                      shipping_per_unit_minor=fields.pop("shipping_per_unit_minor", 500), **fields)
    db.session.add(product)
    db.session.flush()
    return product


def make_shippable_location(org: Organization, name: str | None = None, country: str = "US"):
    """A location of `org` with a street address hardware ships to."""
    location = make_location(org, name)
    location.street, location.city, location.postal_code, location.country = "1 Dock Road", "Springfield", "12345", \
        country
    db.session.flush()
    return location


def make_hardware_order(org: Organization, user: User, lines, payment_kind=None):
    """A placed order of hardware lines [(product, location, quantity[, tax rate in basis points]), …]: unit price
    × quantity plus shipping per order and per unit, taxed at the line's rate, no discount (the checkout's sums
    are ORDERING's; this is enough to ship and credit)."""
    from portal.catalog.models import ProductKind
    from portal.orders.models import Order, OrderLine, PaymentKind
    from portal.pricing import apply_rate

    n = next(_seq)
    order_lines, subtotal, total_tax = [], 0, 0
    for position, (product, location, quantity, *rate) in enumerate(lines):
        rate_bp = rate[0] if rate else 0
        shipping = (product.shipping_per_order_minor or 0) + (product.shipping_per_unit_minor or 0) * quantity
        net = product.unit_price_minor * quantity + shipping
        tax = apply_rate(net, rate_bp)
        subtotal, total_tax = subtotal + net, total_tax + tax
        order_lines.append(OrderLine(position=position, kind=ProductKind.HARDWARE, product_id=product.id,
                                     product_name=product.name, unit_label=product.unit_label, quantity=quantity,
                                     copies=1, unit_list_minor=product.unit_price_minor * quantity,
                                     list_minor=product.unit_price_minor * quantity, discount_minor=0, tax_minor=tax,
                                     tax_rate_bp=rate_bp, tax_category="S" if rate_bp else "Z",
                                     total_minor=net + tax, location_id=location.id,
                                     ship_to=location.shipping_address, shipping_minor=shipping))
    order = Order(number=f"ORD-H{n:07d}", organization_id=org.id, placed_by_id=user.id, idempotency_key=f"hw-{n}",
                  payment_kind=payment_kind or PaymentKind.CARD, currency="USD", discount_bp=0,
                  subtotal_minor=subtotal, discount_minor=0, tax_minor=total_tax, total_minor=subtotal + total_tax,
                  billing={"legal_name": org.legal_name}, lines=order_lines)
    db.session.add(order)
    db.session.flush()
    return order


def make_shipment(location, user: User | None = None, quantity: int = 2, product=None):
    """An order of `quantity` units of a hardware product shipped to `location`, and its shipment (awaiting
    shipment), as checkout makes it; `user` places it (a new manager of the location's organization by default)."""
    from portal.hardware.shipping import create_shipments

    org = db.session.get(Organization, location.organization_id)
    user = user or make_member(org, Role.MANAGER).user
    order = make_hardware_order(org, user, [(product or make_hardware_product(), location, quantity)])
    [shipment] = create_shipments(order)
    return shipment


def make_delivered_unit(location, user: User | None = None):
    """A unit of a hardware product delivered to `location` and not installed yet (its shipment shipped and
    delivered through the state machine)."""
    from portal.audit.services import Actor
    from portal.hardware.shipping import mark_delivered, mark_shipped

    shipment = make_shipment(location, user, quantity=1)
    mark_shipped(shipment, "UPS", "1Z999AA10123456784", Actor.system())
    mark_delivered(shipment, Actor.system())
    return shipment.units[0]


# ---------------------------------------------------------------- API keys (issue 16)


def make_api_key(org: Organization, creator: User | None = None, scopes=None, name: str | None = None,
                 expires_at=None, revoked: bool = False):
    """An API key acting for `org` (a main chain, or a sub-chain for a key limited to it), made by `creator` (a
    manager of its main chain by default; a new one when it has none). Its full token is on `key.token` (the
    database keeps only its hash), as the page shows it once."""
    import hashlib
    import secrets

    from portal.api_keys.models import ApiKey, Scope
    from portal.db_types import utcnow

    main = db.session.get(Organization, org.main_chain_id)
    if creator is None:
        creator = db.session.scalars(select(User).join(Membership, Membership.user_id == User.id).where(
            Membership.organization_id == main.id, Membership.role == Role.MANAGER,
            Membership.active.is_(True)).order_by(User.id)).first() or make_member(main, Role.MANAGER).user
    prefix = f"ppk_{secrets.token_hex(4)}"
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(organization_id=org.id, created_by_id=creator.id, name=name or f"Key {next(_seq)}", prefix=prefix,
                 secret_hash=hashlib.sha256(token.encode()).hexdigest(),
                 scopes=[Scope(s).value for s in (scopes or [Scope.CATALOG_READ, Scope.LICENSES_READ])],
                 expires_at=expires_at, revoked_at=utcnow() if revoked else None)
    db.session.add(key)
    db.session.flush()
    key.token = token
    return key
