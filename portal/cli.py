"""Command-line jobs: `flask --app wsgi seed-demo`, `flask --app wsgi outbox send`; the billing jobs (`invoices
summarize`, `invoices render-pending`, `notify renewals`) register from portal/billing/cli.py, `payments
reconcile` from portal/payments/cli.py, `billing renew` (the renewal run) from portal/recurring/cli.py."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup

from portal.extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Create the demo organizations and users (idempotent)."""
        from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, USERS, seed_demo

        seed_demo(history=True)
        db.session.commit()
        click.echo(f"Demo data ready. Every demo account's password is {DEMO_PASSWORD}")
        for user in USERS:
            click.echo(f"  {user.email:<32} {user.summary}")
        staff = ", ".join(user.email for user in USERS if user.is_staff)
        click.echo(f"Staff ({staff}) sign in with two-step sign-in: add the key {DEMO_TOTP_SECRET} to an "
                   "authenticator app (TOTP, 6 digits, 30 s) and enter its code after the password.")

    outbox = AppGroup("outbox", help="Deliver the email outbox.")

    @outbox.command("send")
    @click.option("--loop", is_flag=True, help="Keep running, polling every --interval seconds.")
    @click.option("--interval", default=10.0, show_default=True, help="Seconds between polls with --loop.")
    def send_command(loop: bool, interval: float):
        """Deliver every due message, retrying failures with backoff."""
        from portal.outbox.worker import deliver

        while True:
            sent, failed = deliver()
            if sent or failed or not loop:
                click.echo(f"outbox: {sent} sent, {failed} failed (will retry)")
            if not loop:
                break
            time.sleep(interval)

    app.cli.add_command(outbox)

    api = AppGroup("api", help="The automation API's housekeeping.")

    @api.command("sweep")
    def sweep_command():
        """Forget the answers stored under Idempotency-Keys more than 24 hours ago (replayed no longer)."""
        from portal.api.idempotency import sweep

        removed = sweep()
        db.session.commit()
        click.echo(f"api: {removed} idempotent answers older than 24 hours removed")

    app.cli.add_command(api)

    from portal.billing.cli import register_billing_cli

    register_billing_cli(app)

    from portal.payments.cli import register_payments_cli

    register_payments_cli(app)

    from portal.recurring.cli import register_recurring_cli

    register_recurring_cli(app)

    from portal.reseller_plans.cli import register_storefronts_cli

    register_storefronts_cli(app)

    from portal.storage import register_storage_cli

    register_storage_cli(app)
