"""The billing jobs the CLI and the staff page start: the monthly summary run and rendering pending PDFs.

Each is a unit of work that commits as it goes, like the outbox worker. The summary run commits every
`SUMMARY_BATCH` organizations: a run killed halfway keeps the batches it committed, and running it again makes
exactly the summaries still missing (the order invoices it has summarized are no longer waiting). The numbers stay
gapless: a rolled back batch gives its summary numbers back.

Why batches rather than one commit per organization: each organization's order invoices are spread over the
table (orders arrive from every organization all month), so marking them dirties a page per invoice, and on
SQLite every commit writes those pages again. Neighbouring organizations share pages, so a batch writes each page
once: 100,000 order invoices of 1,000 organizations took 18 s with a commit each and about 10 s in batches of 50.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.audit.services import Actor
from portal.billing import documents
from portal.billing.models import Invoice, InvoiceLine
from portal.billing.services import Period, organizations_to_summarize, summarize_month
from portal.credits.services import organizations_with_credit
from portal.db_types import utcnow
from portal.extensions import db
from portal.words import plural

SUMMARY_BATCH = 100  # organizations per transaction of the summary run


@dataclass(frozen=True)
class MadeSummary:
    organization: str
    number: str
    invoices: int
    total_minor: int
    currency: str
    fee_lines: int = 0  # reseller fee lines (portal/reseller_fees)

    @property
    def contents(self) -> str:
        """"3 order invoices", "1 order invoice and reseller fees" or "reseller fees"."""
        words = plural(self.invoices, "%(num)d order invoice", "%(num)d order invoices") if self.invoices else ""
        fees = "reseller fees" if self.fee_lines else ""
        return " and ".join(part for part in (words, fees) if part) or "nothing"


def run_monthly_summary(period: Period, today: date | None = None, actor: Actor | None = None,
                        progress: Callable[[int, int], None] | None = None) -> list[MadeSummary]:
    """Summarize `period` for every organization with order invoices waiting, `SUMMARY_BATCH` organizations per
    transaction. `progress` hears (done, total) after each organization."""
    today = today or utcnow().date()
    org_ids = organizations_to_summarize(period)
    db.session.rollback()  # each batch reads and writes in its own transaction
    made: list[MadeSummary] = []
    for start in range(0, len(org_ids), SUMMARY_BATCH):
        batch = org_ids[start:start + SUMMARY_BATCH]
        try:
            orgs = {org.id: org for org in db.session.scalars(select(Organization).where(Organization.id.in_(batch)))}
            with_credit = organizations_with_credit(batch)
            batch_made = []
            for done, org_id in enumerate(batch, start=start + 1):
                org = orgs[org_id]
                summary = summarize_month(org, period, today, actor, with_credit=org_id in with_credit)
                if summary is not None:
                    parts = db.session.scalar(select(func.count()).select_from(Invoice)
                                              .where(Invoice.summary_id == summary.id))
                    fees = db.session.scalar(select(func.count()).select_from(InvoiceLine).where(
                        InvoiceLine.invoice_id == summary.id, InvoiceLine.order_invoice_id.is_(None)))
                    batch_made.append(MadeSummary(org.name, summary.number, parts, summary.total_minor,
                                                  summary.currency, fees))
                if progress:
                    progress(done, len(org_ids))
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        made.extend(batch_made)
    return made


@dataclass(frozen=True)
class RenderRun:
    rendered: int
    failed: list[str]


def render_pending(limit: int = 500, progress: Callable[[int, int], None] | None = None) -> RenderRun:
    """Render and store the PDFs still pending, committing each; a failure is logged and left for the next run."""
    pending = [invoice.id for invoice in documents.pending_pdfs(limit)]
    db.session.rollback()
    rendered, failed = 0, []
    for done, invoice_id in enumerate(pending, start=1):
        invoice = db.session.get(Invoice, invoice_id)
        try:
            documents.store_pdf(invoice)
            db.session.commit()
            rendered += 1
        except documents.PdfUnavailable:
            db.session.rollback()
            raise
        except Exception:  # one bad invoice must not stop the others
            db.session.rollback()
            current_app.logger.exception("invoice %s: PDF rendering failed", invoice_id)
            failed.append(db.session.get(Invoice, invoice_id).number)
        if progress:
            progress(done, len(pending))
    return RenderRun(rendered, failed)
