"""invoices by organization, series and status: one index serves the summary's waiting order invoices, the credit
notes with credit left and the unpaid invoices (it replaces the organization-only index)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_org_series_status', ['organization_id', 'series', 'status'], unique=False)
        batch_op.drop_index(batch_op.f('ix_invoice_organization_id'))


def downgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_organization_id'), ['organization_id'], unique=False)
        batch_op.drop_index('ix_invoice_org_series_status')
