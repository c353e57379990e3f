"""A transfer request: a reseller's sub-chain to become a main chain of its own, reviewed by vendor staff."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization, User
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class TransferStatus(enum.StrEnum):
    REQUESTED = "requested"  # waiting for vendor staff
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the requester took it back before review

    @property
    def label(self) -> str:
        return {TransferStatus.REQUESTED: "Waiting for review", TransferStatus.APPROVED: "Approved",
                TransferStatus.REJECTED: "Rejected", TransferStatus.WITHDRAWN: "Withdrawn"}[self]


class TransferRequest(db.Model):
    __tablename__ = "transfer_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)  # the reseller
    sub_chain_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)  # what is transferred
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[TransferStatus] = mapped_column(str_enum(TransferStatus, "transfer_status"),
                                                   default=TransferStatus.REQUESTED)
    # The new entity, as it will be billed.
    legal_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), default="US")
    invoice_email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40))
    manager_email: Mapped[str] = mapped_column(String(254))  # becomes the new main chain's Chain & User Manager
    # The written authorization: a PDF stored under the instance folder, never under static.
    authorization_path: Mapped[str] = mapped_column(String(255))
    authorization_filename: Mapped[str] = mapped_column(String(255))
    authorization_size: Mapped[int] = mapped_column(Integer)
    # Staff's decision.
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    service_charge_minor: Mapped[int | None] = mapped_column(BigInteger)
    service_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    requester: Mapped[Organization] = relationship(foreign_keys=[requester_id])
    sub_chain: Mapped[Organization] = relationship(foreign_keys=[sub_chain_id])
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
