"""Which ways of paying an amount the portal accepts (DOMAIN §6), the one home of the rule: checkout, Pay invoice
and the payment terms printed on invoices and service charges all ask here.

Cards (American Express, Visa, Mastercard) always; wire transfer, ACH and check from USD 1,000.00, or whatever
the amount for an account that had them before April 2019 (a flag staff set)."""

from __future__ import annotations

from portal.accounts.models import Organization
from portal.billing.models import Invoice, PaymentMethodKind

OTHER_METHODS_THRESHOLD_MINOR = 100_000  # USD 1,000.00
OTHER_METHODS = (PaymentMethodKind.WIRE, PaymentMethodKind.ACH, PaymentMethodKind.CHECK)
METHOD_LABELS = {kind: kind.label for kind in PaymentMethodKind}


def other_methods_allowed(org: Organization, total_minor: int) -> bool:
    """Whether wire, ACH and check may pay `total_minor` for `org`."""
    return total_minor >= OTHER_METHODS_THRESHOLD_MINOR or org.grandfathered_payment_methods


def payment_options(invoice: Invoice, org: Organization) -> list[PaymentMethodKind]:
    """How `org` may pay `invoice`: card always; wire, ACH and check where other_methods_allowed says so."""
    options = [PaymentMethodKind.CARD]
    if other_methods_allowed(org, invoice.total_minor):
        options.extend(OTHER_METHODS)
    return options
