"""list indexes (issue 18): the reselling page's lists read their default order from an index whatever the
size of the book: the stock to assign by M&S end, resold licenses by assignment, one holder's licenses by M&S end
(which also serves every lookup by customer, so it replaces the customer-only index), a reseller's M&S by date
(the renewals window; it replaces the owner-only index); organizations by name; an organization's orders and
its vendor invoices newest first; its invoices by status, then series (the unpaid ones of every series in one
range)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 15:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_license_unassigned_ms', 'license', ['owner_id', 'ms_expires_on', 'id'], unique=False,
                    postgresql_where=sa.text('customer_id IS NULL'), sqlite_where=sa.text('customer_id IS NULL'))
    op.create_index('ix_license_resold_assigned', 'license', ['owner_id', 'assigned_at', 'id'], unique=False,
                    postgresql_where=sa.text('customer_id IS NOT NULL'),
                    sqlite_where=sa.text('customer_id IS NOT NULL'))
    op.create_index('ix_license_customer_ms', 'license', ['customer_id', 'ms_expires_on', 'id'], unique=False,
                    postgresql_where=sa.text('customer_id IS NOT NULL'),
                    sqlite_where=sa.text('customer_id IS NOT NULL'))
    op.drop_index('ix_license_customer_id', table_name='license')
    op.create_index('ix_license_owner_ms', 'license', ['owner_id', 'ms_expires_on'], unique=False)
    op.drop_index('ix_license_owner_id', table_name='license')
    op.create_index('ix_organization_name', 'organization', ['name', 'id'], unique=False)
    op.create_index('ix_purchase_order_org_created', 'purchase_order', ['organization_id', 'created_at', 'id'],
                    unique=False)
    op.drop_index('ix_purchase_order_organization_id', table_name='purchase_order')
    op.create_index('ix_invoice_org_issued', 'invoice', ['organization_id', 'issued_on', 'id'], unique=False,
                    postgresql_where=sa.text('issuer_id IS NULL'), sqlite_where=sa.text('issuer_id IS NULL'))
    op.create_index('ix_invoice_org_status_series', 'invoice', ['organization_id', 'status', 'series'], unique=False)
    op.drop_index('ix_invoice_org_series_status', table_name='invoice')


def downgrade():
    op.create_index('ix_invoice_org_series_status', 'invoice', ['organization_id', 'series', 'status'], unique=False)
    op.drop_index('ix_invoice_org_status_series', table_name='invoice')
    op.drop_index('ix_invoice_org_issued', table_name='invoice')
    op.create_index('ix_purchase_order_organization_id', 'purchase_order', ['organization_id'], unique=False)
    op.drop_index('ix_purchase_order_org_created', table_name='purchase_order')
    op.drop_index('ix_organization_name', table_name='organization')
    op.create_index('ix_license_owner_id', 'license', ['owner_id'], unique=False)
    op.drop_index('ix_license_owner_ms', table_name='license')
    op.create_index('ix_license_customer_id', 'license', ['customer_id'], unique=False)
    op.drop_index('ix_license_customer_ms', table_name='license')
    op.drop_index('ix_license_resold_assigned', table_name='license')
    op.drop_index('ix_license_unassigned_ms', table_name='license')
