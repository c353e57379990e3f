"""The renewal run on the command line: `flask --app wsgi billing renew [--date YYYY-MM-DD]` (cron, daily)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from portal.progress import progress_bar


def register_recurring_cli(app: Flask) -> None:
    billing = AppGroup("billing", help="Recurring billing: the renewal run.")

    @billing.command("renew")
    @click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Renew what is due on or before this day (default: today).")
    def renew_command(day):
        """Bill every plan and auto-renewing M&S due, one renewal invoice per main chain; charge saved cards and
        retry declined ones (days 1, 3, 7). Idempotent: each period is billed once, however often it runs."""
        from portal.recurring.run import renew, summary_lines

        if day is not None and not 1900 <= day.year <= 9000:
            raise click.BadParameter("give a day of this era, as YYYY-MM-DD", param_hint="--date")
        with progress_bar("Renewing") as advance:
            run = renew(day.date() if day else None, progress=advance)
        for line in summary_lines(run):
            click.echo(line)

    app.cli.add_command(billing)
