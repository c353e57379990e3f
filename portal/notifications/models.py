"""The emails a user may choose not to receive, and the choices made."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class EmailCategory(enum.StrEnum):
    """Optional emails, by what they are about. Everything else the portal sends (password and sign-in security,
    invoices, receipts, orders, licenses, transfers) is mandatory: it has no category and no opt-out."""

    RENEWAL_NOTICES = "renewal_notices"
    DEVICE_NOTICES = "device_notices"
    PARTNER_GRANT_NOTICES = "partner_grant_notices"
    PRODUCT_NEWS = "product_news"

    @property
    def label(self) -> str:
        return {
            EmailCategory.RENEWAL_NOTICES: "Renewal notices",
            EmailCategory.DEVICE_NOTICES: "Device notices",
            EmailCategory.PARTNER_GRANT_NOTICES: "Installation Partner access notices",
            EmailCategory.PRODUCT_NEWS: "Product news",
        }[self]

    @property
    def description(self) -> str:
        return {
            EmailCategory.RENEWAL_NOTICES: "Maintenance & Support ending within 30 days and subscriptions renewing "
                                           "within 7 days (sent to Chain & User Managers).",
            EmailCategory.DEVICE_NOTICES: "A device added to your chain, marked as a spare or counting again, moved "
                                          "or removed, and what it changes in your plans (sent to Chain & User "
                                          "Managers).",
            EmailCategory.PARTNER_GRANT_NOTICES: "Installation Partner access that is about to expire.",
            EmailCategory.PRODUCT_NEWS: "New products and editions from the vendor.",
        }[self]


class EmailOptOut(db.Model):
    """A user who chose not to receive one category of optional email (no row: they receive it)."""

    __tablename__ = "email_opt_out"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[EmailCategory] = mapped_column(str_enum(EmailCategory, "email_category"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
