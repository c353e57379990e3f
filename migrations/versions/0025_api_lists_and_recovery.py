"""API lists and idempotent recovery (issue 16): an organization's vendor invoices of one status, newest first,
read from one index range (GET /api/v1/invoices?status=…); and the recovery point of an idempotent request whose
work commits on its own (an order's checkout signature, an invoice's number), so that a retry after a crash finds
that work instead of doing it again

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 19:25:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_invoice_org_status_issued', 'invoice', ['organization_id', 'status', 'issued_on', 'id'],
                    unique=False, postgresql_where=sa.text('issuer_id IS NULL'),
                    sqlite_where=sa.text('issuer_id IS NULL'))
    with op.batch_alter_table('api_idempotent_request') as batch:
        batch.add_column(sa.Column('recovery_point', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('api_idempotent_request') as batch:
        batch.drop_column('recovery_point')
    op.drop_index('ix_invoice_org_status_issued', table_name='invoice',
                  postgresql_where=sa.text('issuer_id IS NULL'), sqlite_where=sa.text('issuer_id IS NULL'))
