"""reseller fees per customer account and recommended retail prices: a product's fee for all resellers and staff's
fee for one reseller, each edition's RRP per unit, the record of every account charged, and how a reseller shows
a product on its storefront

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:10:00

"""
from alembic import op
import sqlalchemy as sa

import portal.db_types


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reseller_fee_minor', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_product_reseller_fee_not_negative'),
                                         'reseller_fee_minor IS NULL OR reseller_fee_minor >= 0')
    with op.batch_alter_table('edition', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rrp_unit_minor', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_edition_rrp_not_negative'), 'rrp_unit_minor IS NULL OR rrp_unit_minor >= 0')
    with op.batch_alter_table('license', schema=None) as batch_op:
        batch_op.create_index('ix_license_owner_product_customer',
                              ['owner_id', 'product_id', 'customer_id', 'assigned_at'], unique=False)
    op.create_table(
        'reseller_fee_override',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('reseller_id', sa.Integer(), nullable=False),
        sa.Column('fee_minor', sa.BigInteger(), nullable=True),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', portal.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint('fee_minor IS NULL OR fee_minor >= 0', name=op.f('ck_reseller_fee_override_fee_not_negative')),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_reseller_fee_override_product_id_product')),
        sa.ForeignKeyConstraint(['reseller_id'], ['organization.id'],
                                name=op.f('fk_reseller_fee_override_reseller_id_organization')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'],
                                name=op.f('fk_reseller_fee_override_updated_by_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reseller_fee_override')),
        sa.UniqueConstraint('product_id', 'reseller_id', name='uq_reseller_fee_override'),
    )
    with op.batch_alter_table('reseller_fee_override', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reseller_fee_override_reseller_id'), ['reseller_id'], unique=False)
    op.create_table(
        'reseller_fee_month',
        sa.Column('reseller_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('accounts', sa.Integer(), nullable=False),
        sa.Column('created_at', portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['reseller_id'], ['organization.id'],
                                name=op.f('fk_reseller_fee_month_reseller_id_organization')),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_reseller_fee_month_invoice_id_invoice')),
        sa.PrimaryKeyConstraint('reseller_id', 'period', name=op.f('pk_reseller_fee_month')),
        sa.UniqueConstraint('invoice_id', name=op.f('uq_reseller_fee_month_invoice_id')),
    )
    op.create_table(
        'reseller_fee_charge',
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('invoice_id', 'position', 'customer_id', name=op.f('pk_reseller_fee_charge')),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'storefront_product',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('storefront_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('hidden', sa.Boolean(), nullable=False),
        sa.Column('updated_at', portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['storefront_id'], ['storefront.id'],
                                name=op.f('fk_storefront_product_storefront_id_storefront'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_storefront_product_product_id_product')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_storefront_product')),
        sa.UniqueConstraint('storefront_id', 'product_id', name='uq_storefront_product'),
    )


def downgrade():
    op.drop_table('storefront_product')
    with op.batch_alter_table('license', schema=None) as batch_op:
        batch_op.drop_index('ix_license_owner_product_customer')
    op.drop_table('reseller_fee_charge')
    op.drop_table('reseller_fee_month')
    with op.batch_alter_table('reseller_fee_override', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reseller_fee_override_reseller_id'))
    op.drop_table('reseller_fee_override')
    with op.batch_alter_table('edition', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_edition_rrp_not_negative'), type_='check')
        batch_op.drop_column('rrp_unit_minor')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_product_reseller_fee_not_negative'), type_='check')
        batch_op.drop_column('reseller_fee_minor')
