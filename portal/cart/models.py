"""A user's shopping cart, kept in the database (it survives sign-out), one per user and organization."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.catalog.models import Edition, Product, PurchaseKind
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class CartItem(db.Model):
    __tablename__ = "cart_item"
    __table_args__ = (CheckConstraint("quantity >= 1 AND copies >= 1", name="quantities_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # A storefront customer's cart line, priced at that storefront's prices (None: the vendor's shop).
    storefront_id: Mapped[int | None] = mapped_column(ForeignKey("storefront.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("edition.id"))
    purchase: Mapped[PurchaseKind] = mapped_column(str_enum(PurchaseKind, "purchase_kind"), default=PurchaseKind.NEW,
                                                  server_default=PurchaseKind.NEW.value)
    license_id: Mapped[int | None] = mapped_column(ForeignKey("license.id"))  # the license a modification changes
    quantity: Mapped[int] = mapped_column(Integer)  # units of the product: mailboxes, devices …
    copies: Mapped[int] = mapped_column(Integer, default=1)  # how many licenses of this configuration
    addon_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Hardware: the location the units ship to (of the buying chain or of a customer it may order for).
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    # The list price of one copy shown when the item went into the cart, so checkout can say when it changed.
    quoted_list_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship()
    edition: Mapped[Edition | None] = relationship()
