"""The invoice list's search, filters and sorts (portal/list_options.py): what its rows show."""

from __future__ import annotations

from sqlalchemy import and_

from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.services import STATUS_FILTERS
from portal.db_types import utcnow
from portal.list_options import Choice, ListSpec, Month, Range, Sort

_OWED = (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)


def _status(value: str):
    if value == "overdue":  # what the Due column flags: owed, and due before today
        return and_(Invoice.status.in_(_OWED), Invoice.due_on < utcnow().date())
    return Invoice.status.in_(STATUS_FILTERS[value][1])


STATUSES = (*((key, label) for key, (label, _) in STATUS_FILTERS.items()), ("overdue", "Overdue"))

INVOICES = ListSpec(
    prefix="", search=lambda text: Invoice.number.icontains(text, autoescape=True),
    search_label="Invoice number",
    filters=(Choice("status", "Status", lambda: STATUSES, _status),
             Month("period", "Issued in", lambda first, last: and_(Invoice.issued_on >= first,
                                                                   Invoice.issued_on <= last)),
             Range("issued", "Issued", Invoice.issued_on, values="date"),
             Range("due", "Due", Invoice.due_on, values="date")),
    sorts={"number": Sort("Invoice", (Invoice.number,)), "issued": Sort("Issued", (Invoice.issued_on,)),
           "due": Sort("Due", (Invoice.due_on,)), "total": Sort("Total", (Invoice.total_minor,))},
    default_sort="-issued", tie_breaker=Invoice.id, primary=("status", "period"))
