"""Shapes every API resource shares: money."""

from __future__ import annotations

import marshmallow as ma


class MoneySchema(ma.Schema):
    """An amount in integer minor units of its currency (cents for USD): never a float."""

    amount_minor = ma.fields.Integer(required=True, metadata={"description": "Integer minor units (cents)."})
    currency = ma.fields.String(required=True, metadata={"description": "ISO 4217 code, such as USD."})


def money_json(amount_minor: int, currency: str) -> dict:
    return {"amount_minor": int(amount_minor), "currency": currency}
