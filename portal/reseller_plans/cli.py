"""The storefront purge on the command line: `flask --app wsgi storefronts purge [--date YYYY-MM-DD]` (daily)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup


def register_storefronts_cli(app: Flask) -> None:
    storefronts = AppGroup("storefronts", help="Reseller storefronts: purge the ones kept past their retention.")

    @storefronts.command("purge")
    @click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Purge what is due on or before this day (default: today).")
    def purge_command(day):
        """Delete the closed storefronts whose retention ended (with their price rules and logo), freeing their
        aliases. Idempotent: a second run finds nothing."""
        from portal.db_types import utcnow
        from portal.extensions import db
        from portal.reseller_plans.plans import purge_storefronts
        from portal.words import plural

        if day is not None and not 1900 <= day.year <= 9000:
            raise click.BadParameter("give a day of this era, as YYYY-MM-DD", param_hint="--date")
        purged = [(s.alias, s.organization_id, s.purge_on) for s in
                  purge_storefronts(day.date() if day else utcnow().date())]
        db.session.commit()
        for alias, org_id, purge_on in purged:
            click.echo(f"purged /s/{alias} (organization {org_id}, due {purge_on.isoformat()})")
        click.echo(plural(len(purged), "%(num)d storefront purged.", "%(num)d storefronts purged."))

    app.cli.add_command(storefronts)
