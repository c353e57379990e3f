"""The billing jobs the CLI and the staff page start: the monthly summary run and rendering pending PDFs.

Each is a unit of work that commits per item, like the outbox worker: the summary run commits once per
organization, so a run killed halfway keeps the summaries it made, and running it again makes exactly the ones
still missing (the order invoices it has summarized are no longer waiting). The numbers stay gapless: a rolled
back organization gives its summary number back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import current_app

from portal.accounts.models import Organization
from portal.audit.services import Actor
from portal.billing import documents
from portal.billing.models import Invoice
from portal.billing.services import Period, organizations_to_summarize, summarize_month
from portal.db_types import utcnow
from portal.extensions import db


@dataclass(frozen=True)
class MadeSummary:
    organization: str
    number: str
    invoices: int
    total_minor: int
    currency: str


def run_monthly_summary(period: Period, today: date | None = None, actor: Actor | None = None,
                        progress: Callable[[int, int], None] | None = None) -> list[MadeSummary]:
    """Summarize `period` for every organization with order invoices waiting: one transaction each. `progress`
    hears (done, total) after each organization."""
    today = today or utcnow().date()
    org_ids = organizations_to_summarize(period)
    db.session.rollback()  # each organization reads and writes in its own transaction
    made = []
    for done, org_id in enumerate(org_ids, start=1):
        try:
            org = db.session.get(Organization, org_id)
            summary = summarize_month(org, period, today, actor)
            if summary is not None:
                parts = len({line.order_invoice_id for line in summary.lines})
                made.append(MadeSummary(org.name, summary.number, parts, summary.total_minor, summary.currency))
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        if progress:
            progress(done, len(org_ids))
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
