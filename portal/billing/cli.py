"""Billing jobs on the command line: `flask --app wsgi invoices summarize|render-pending`, `flask --app wsgi notify
renewals`. Each prints what it did; the long ones show a progress bar (rich)."""

from __future__ import annotations

from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from portal.money import Money, format_money
from portal.progress import progress_bar as _progress


def _period(value: str | None):
    from portal.billing.services import Period
    from portal.db_types import utcnow
    from portal.errors import RuleError

    if not value:
        return Period.before(utcnow().date())
    try:
        return Period.parse(value)
    except RuleError as error:
        raise click.BadParameter(error.message) from None


def register_billing_cli(app: Flask) -> None:
    invoices = AppGroup("invoices", help="Summary invoices and invoice PDFs.")

    @invoices.command("summarize")
    @click.option("--period", metavar="YYYY-MM", help="The month to summarize (default: the previous month).")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Issue date of the summaries (default: today).")
    def summarize_command(period: str | None, today):
        """Make one summary invoice per invoiced organization for the month: idempotent, one transaction per
        organization (a run stopped halfway and run again ends as one clean run)."""
        from portal.billing.jobs import run_monthly_summary

        month = _period(period)
        issue_day: date | None = today.date() if today else None
        with _progress(f"Summarizing {month}") as advance:
            made = run_monthly_summary(month, issue_day, progress=advance)
        for m in made:
            click.echo(f"{m.number}  {m.organization}: {m.contents}, {format_money(Money(m.total_minor, m.currency))}")
        click.echo(f"{len(made)} summary invoice{'s' if len(made) != 1 else ''} made for {month}."
                   if made else f"Nothing to summarize for {month}.")

    @invoices.command("render-pending")
    @click.option("--limit", default=500, show_default=True, help="At most this many invoices per run.")
    def render_pending_command(limit: int):
        """Render and store the PDF of every issued invoice that has none yet (each is rendered once)."""
        from portal.billing.documents import PdfUnavailable
        from portal.billing.jobs import render_pending

        try:
            with _progress("Rendering invoice PDFs") as advance:
                run = render_pending(limit, progress=advance)
        except PdfUnavailable as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{run.rendered} PDF{'s' if run.rendered != 1 else ''} rendered and stored.")
        if run.failed:
            raise click.ClickException(f"could not render {', '.join(run.failed)} (see the log); they stay pending")

    notify = AppGroup("notify", help="Notification emails.")

    @notify.command("renewals")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Count the windows from this day (default: today).")
    def renewals_command(today):
        """Email the Chain & User Managers of each main chain about M&S ending within 30 days and subscriptions
        renewing within 7 days, once per item and window."""
        from portal.renewals.notices import send_renewal_notices

        run = send_renewal_notices(today.date() if today else None)
        click.echo(f"{run.emails} renewal email{'s' if run.emails != 1 else ''} queued: {run.licenses} M&S, "
                   f"{run.subscriptions} subscription{'s' if run.subscriptions != 1 else ''}.")

    @notify.command("partner-grants")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Count the windows from this day (default: today).")
    def partner_grants_command(today):
        """Mark Installation Partner grants past their end date as expired, and email both sides' Chain & User
        Managers 30 and 7 days before a grant ends, once per grant and window."""
        from portal.partners.notices import send_partner_grant_notices

        run = send_partner_grant_notices(today.date() if today else None)
        click.echo(f"{run.expired} grant{'s' if run.expired != 1 else ''} expired, {run.emails} "
                   f"expiry email{'s' if run.emails != 1 else ''} queued.")

    app.cli.add_command(invoices)
    app.cli.add_command(notify)
