"""The renewal run on the command line: `flask --app wsgi billing renew [--date YYYY-MM-DD]` (cron, daily)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from portal.cli import progress_bar
from portal.money import Money, format_money

METHOD_WORDS = {"card": "charged to saved cards", "invoice": "invoiced, due in 30 days",
                "summary": "left to the monthly summary"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_lines(run) -> list[str]:
    """What a renewal run did, line by line (the CLI's closing report; staff's page shows the same)."""
    lines = [f"{_plural(run.invoices, 'renewal invoice')} issued: {_plural(run.plans, 'plan period')} and "
             f"{run.licenses} M&S renewed"
             + (f", {_plural(run.cancelled, 'plan')} ended by a scheduled cancellation" if run.cancelled else "")
             + "."]
    for (method, currency), total in sorted(run.amounts.items()):
        lines.append(f"  {format_money(Money(total, currency))} {METHOD_WORDS.get(method, method)}")
    tally = run.collection
    lines.append(f"{_plural(tally.charged, 'card')} charged, {tally.declined} declined"
                 + (f", {tally.paid_meanwhile} paid meanwhile" if tally.paid_meanwhile else "")
                 + (f", {tally.without_card} without a saved card any more" if tally.without_card else "")
                 + f"; {_plural(run.invoices_sent, 'invoice')} sent; {_plural(tally.past_due_plans, 'plan')} "
                 "past due.")
    if tally.failed:
        lines.append(f"{_plural(tally.failed, 'charge')} failed unexpectedly (see the log): tried again next run.")
    if run.skipped_batches:
        lines.append(f"{_plural(run.skipped_batches, 'batch')} left to a concurrent run.")
    return lines


def register_recurring_cli(app: Flask) -> None:
    billing = AppGroup("billing", help="Recurring billing: the renewal run.")

    @billing.command("renew")
    @click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Renew what is due on or before this day (default: today).")
    def renew_command(day):
        """Bill every plan and auto-renewing M&S due, one renewal invoice per main chain; charge saved cards and
        retry declined ones (days 1, 3, 7). Idempotent: each period is billed once, however often it runs."""
        from portal.recurring.run import renew

        with progress_bar("Renewing") as advance:
            run = renew(day.date() if day else None, progress=advance)
        for line in summary_lines(run):
            click.echo(line)

    app.cli.add_command(billing)
