"""Payment jobs on the command line: `flask --app wsgi payments reconcile [--grace-minutes N]`."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.money import Money, format_money


def register_payments_cli(app: Flask) -> None:
    payments = AppGroup("payments", help="Card payments taken through the gateway.")

    @payments.command("reconcile")
    @click.option("--grace-minutes", type=click.IntRange(min=0), default=None,
                  help="Leave attempts younger than this alone (default: PAYMENT_RECONCILE_GRACE_MINUTES, 15).")
    def reconcile_command(grace_minutes: int | None):
        """Void every approved card charge that has no order or invoice payment after the grace period (an audit
        entry each), close the attempts that charged nothing, and mark succeeded those whose order committed; send
        again the refunds to the card still pending after the grace period (under their own idempotency key: never
        refunded twice). Running it again does nothing."""
        from portal.credits.models import RefundStatus
        from portal.credits.refunds import retry_pending_refunds
        from portal.payments.gateway import gateway
        from portal.payments.intents import reconcile
        from portal.payments.models import IntentStatus

        if grace_minutes is None:
            grace_minutes = current_app.config["PAYMENT_RECONCILE_GRACE_MINUTES"]
        settled = reconcile(gateway(), timedelta(minutes=grace_minutes))
        for s in settled:
            if s.charge_voided:
                what = f"charge {s.charge_id} voided"
            elif s.status is IntentStatus.SUCCEEDED:
                what = f"charge {s.charge_id} kept: its {'order' if s.purpose == 'checkout' else 'payment'} committed"
            else:
                what = f"closed as {s.status.value}: nothing was taken"
            click.echo(f"{s.purpose} {s.purpose_key[:16]} (organization {s.organization_id}), "
                       f"{format_money(Money(s.amount_minor, s.currency))}: {what}")
        voided = sum(s.charge_voided for s in settled)
        if settled:
            click.echo(f"{voided} charge{'s' if voided != 1 else ''} voided; {len(settled)} payment "
                       f"attempt{'s' if len(settled) != 1 else ''} settled.")
        else:
            click.echo(f"Nothing to reconcile: no payment attempt open for {grace_minutes} minutes or more.")
        retried = retry_pending_refunds(gateway(), timedelta(minutes=grace_minutes))
        outcome = {RefundStatus.SUCCEEDED: "refunded", RefundStatus.FAILED: "refused by the processor: the credit is "
                   "available again", RefundStatus.PENDING: "still pending: the processor did not answer"}
        for refund, status in retried:
            click.echo(f"refund {refund.idempotency_key} of {refund.charge_id}, "
                       f"{format_money(Money(refund.amount_minor, _currency(refund)))}: {outcome[status]}")
        if retried:
            done = sum(status is RefundStatus.SUCCEEDED for _, status in retried)
            click.echo(f"{done} of {len(retried)} pending refund{'s' if len(retried) != 1 else ''} to the card "
                       f"sent.")

    app.cli.add_command(payments)


def _currency(refund) -> str:
    from portal.billing.models import Invoice
    from portal.extensions import db

    return db.session.get(Invoice, refund.credit_note_id).currency
