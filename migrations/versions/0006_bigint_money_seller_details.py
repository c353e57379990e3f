"""money columns are BIGINT; seller and bank details set by staff and kept on each invoice; purchase order numbers;
service periods on invoice lines

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:30:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Every amount in minor units: INTEGER (int4 on PostgreSQL) overflows at USD 21,474,836.47.
MONEY_COLUMNS = {
    'addon': [('price_minor', False)],
    'cart_item': [('quoted_list_minor', False)],
    'edition': [('base_price_minor', False), ('unit_price_minor', False)],
    'invoice': [('subtotal_minor', False), ('discount_minor', False), ('tax_minor', False), ('total_minor', False)],
    'invoice_line': [('unit_price_minor', False), ('list_minor', False), ('discount_minor', False),
                     ('tax_minor', False), ('total_minor', False)],
    'invoice_payment': [('amount_minor', False)],
    'order_line': [('unit_list_minor', False), ('list_minor', False), ('discount_minor', False),
                   ('tax_minor', False), ('total_minor', False)],
    'product': [('reinstatement_fee_minor', False), ('unit_price_minor', True)],
    'purchase_order': [('subtotal_minor', False), ('discount_minor', False), ('tax_minor', False),
                       ('total_minor', False)],
    'sandbox_charge': [('amount_minor', False)],
    'transfer_request': [('service_charge_minor', True)],
}

# The details the portal printed until staff could set them (portal/billing/remittance.py before this revision):
# the first settings row, and what every invoice issued so far was issued with.
SELLER = {
    'legal_name': 'Vendor Software, Inc.', 'address_line1': '500 Market Street', 'address_line2': 'Suite 1200',
    'city': 'San Francisco', 'region': 'CA', 'postal_code': '94105', 'country': 'US',
    'email': 'billing@vendor.example.com', 'tax_id': 'CA-SR-102-345678', 'registration_id': '94-1234567',
    'bank_name': 'First Example Bank, N.A.', 'account_name': 'Vendor Software, Inc.',
    'account_number': '000123456789', 'routing_number': '121000358', 'swift_bic': 'FEXBUS33',
}


def _retype(old, new):
    for table, columns in MONEY_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, nullable in columns:
                batch_op.alter_column(name, existing_type=old(), type_=new(), existing_nullable=nullable)


def upgrade():
    settings = op.create_table('seller_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('address_line1', sa.String(length=200), nullable=False),
    sa.Column('address_line2', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('tax_id', sa.String(length=64), nullable=False),
    sa.Column('registration_id', sa.String(length=64), nullable=False),
    sa.Column('bank_name', sa.String(length=200), nullable=False),
    sa.Column('account_name', sa.String(length=200), nullable=False),
    sa.Column('account_number', sa.String(length=64), nullable=False),
    sa.Column('routing_number', sa.String(length=32), nullable=False),
    sa.Column('swift_bic', sa.String(length=11), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seller_settings'))
    )
    op.execute(settings.insert().values(id=1, updated_at=sa.func.now(), **SELLER))

    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seller', sa.JSON(), nullable=False, server_default=json.dumps(SELLER)))
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.alter_column('seller', server_default=None)  # the default only filled invoices already issued

    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purchase_order_number', sa.String(length=64), server_default='',
                                      nullable=False))
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.alter_column('purchase_order_number', server_default=None)  # filled existing orders only

    with op.batch_alter_table('invoice_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('service_end', sa.Date(), nullable=True))

    _retype(sa.INTEGER, sa.BigInteger)


def downgrade():
    _retype(sa.BigInteger, sa.INTEGER)
    with op.batch_alter_table('invoice_line', schema=None) as batch_op:
        batch_op.drop_column('service_end')
        batch_op.drop_column('service_start')
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.drop_column('purchase_order_number')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('seller')
    op.drop_table('seller_settings')
