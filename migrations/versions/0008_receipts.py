"""receipts: every payment is a numbered receipt (RCP-…) listing the invoices it paid

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:32:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SERIES = "series IN ('order', 'summary', 'receipt')"
OLD_SERIES = "series IN ('order', 'summary')"


def _series_check(values):
    for table in ('invoice', 'invoice_series'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_invoice_series_name'), type_='check')
            batch_op.create_check_constraint(op.f(f'ck_{table}_invoice_series_name'), values)


def upgrade():
    op.create_table('receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('method_label', sa.String(length=120), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('gateway_charge_id', sa.String(length=64), nullable=True),
    sa.Column('payer', sa.JSON(), nullable=False),
    sa.Column('payer_email', sa.String(length=254), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('pdf_path', sa.String(length=255), nullable=True),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_receipt_organization_id_organization')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_receipt_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt')),
    sa.UniqueConstraint('number', name=op.f('uq_receipt_number')),
    sa.UniqueConstraint('sequence', name=op.f('uq_receipt_sequence'))
    )
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.create_index('ix_receipt_org_received', ['organization_id', 'received_at', 'id'], unique=False)

    with op.batch_alter_table('invoice_payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_invoice_payment_receipt_id'), ['receipt_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_invoice_payment_receipt_id_receipt'), 'receipt', ['receipt_id'], ['id'])

    _series_check(SERIES)


def downgrade():
    _series_check(OLD_SERIES)
    with op.batch_alter_table('invoice_payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_invoice_payment_receipt_id_receipt'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_invoice_payment_receipt_id'))
        batch_op.drop_column('receipt_id')
    op.drop_table('receipt')
