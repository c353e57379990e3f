"""Imports every feature's models so that the metadata (and Alembic) sees them all."""

from portal.accounts.models import Contact, Membership, Organization, PasswordToken, User  # noqa: F401
from portal.api_keys.models import ApiKey, IdempotentRequest  # noqa: F401
from portal.audit.models import AuditEntry  # noqa: F401
from portal.billing.models import (  # noqa: F401
    CreditAllocation,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    RenewalNotice,
    SeriesCounter,
)
from portal.cart.models import CartItem  # noqa: F401
from portal.catalog.models import AddOn, Edition, Product, TierDiscount  # noqa: F401
from portal.credits.models import CreditRefund  # noqa: F401
from portal.devices.models import Device, Location  # noqa: F401
from portal.hardware.models import ReturnRequest, Shipment, ShipmentUnit  # noqa: F401
from portal.licenses.models import Activation, License  # noqa: F401
from portal.notifications.models import EmailOptOut  # noqa: F401
from portal.orders.models import Order, OrderLine  # noqa: F401
from portal.outbox.models import OutboxMessage  # noqa: F401
from portal.partners.models import PartnerAssignment, PartnerGrant  # noqa: F401
from portal.payments.models import PaymentIntent, PaymentMethod  # noqa: F401
from portal.receipts.models import Receipt  # noqa: F401
from portal.recurring.models import Renewal, RenewalCollection  # noqa: F401
from portal.reseller_fees.models import ResellerFeeCharge, ResellerFeeMonth, ResellerFeeOverride  # noqa: F401
from portal.sandbox_processor.models import (  # noqa: F401
    SandboxEvent,
    SandboxIdempotency,
    SandboxIntent,
    SandboxPaymentMethod,
    SandboxRefund,
)
from portal.seller.models import SellerSettings, TaxRate  # noqa: F401
from portal.signin.models import RecoveryCode, TwoStepCredential, TwoStepRequirement, UserSession  # noqa: F401
from portal.storage import StoredFile  # noqa: F401
from portal.storefronts.models import (  # noqa: F401
    EmailTemplate,
    Storefront,
    StorefrontPrice,
    StorefrontProduct,
    StorefrontSeries,
)
from portal.subscriptions.models import Subscription  # noqa: F401
from portal.transfers.models import TransferRequest  # noqa: F401
from portal.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: F401
