"""hardware orders: hardware products (SKU, unit price, shipping, countries, units that become devices), a
location's street address, cart and order lines shipped to a location, shipments and their units, return requests

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


KINDS = "kind IN ('license', 'subscription', 'hardware')"
KIND_FIELDS = (
    "(kind = 'license' AND basis IS NULL AND interval IS NULL AND unit_price_minor IS NULL) OR "
    "(kind = 'subscription' AND basis IS NOT NULL AND interval IS NOT NULL AND unit_price_minor IS NOT NULL)"
    " OR (kind = 'hardware' AND basis IS NULL AND interval IS NULL AND unit_price_minor IS NOT NULL)")
SHIPPING = ("(shipping_per_order_minor IS NULL OR shipping_per_order_minor >= 0) AND "
            "(shipping_per_unit_minor IS NULL OR shipping_per_unit_minor >= 0)")


def upgrade():
    op.create_table('shipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('ship_to', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('awaiting_shipment', 'shipped', 'delivered', 'cancelled', name='shipment_state', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('carrier', sa.String(length=60), nullable=False),
    sa.Column('tracking_number', sa.String(length=60), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_shipment_location_id_location')),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_order.id'], name=op.f('fk_shipment_order_id_purchase_order')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_shipment_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment')),
    sa.UniqueConstraint('number', name=op.f('uq_shipment_number')),
    sa.UniqueConstraint('order_id', 'location_id', name='uq_shipment_order_location')
    )
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_location_id'), ['location_id'], unique=False)
        batch_op.create_index('ix_shipment_organization_created', ['organization_id', 'created_at'], unique=False)
        batch_op.create_index('ix_shipment_state_created', ['state', 'created_at'], unique=False)

    op.create_table('return_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('requested', 'approved', 'refused', name='return_state', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('replacement_shipment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_return_request_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_return_request_device_id_device')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_return_request_organization_id_organization')),
    sa.ForeignKeyConstraint(['replacement_shipment_id'], ['shipment.id'], name=op.f('fk_return_request_replacement_shipment_id_shipment')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_return_request_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_request'))
    )
    with op.batch_alter_table('return_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_request_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_request_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_return_request_state_created', ['state', 'created_at'], unique=False)

    op.create_table('shipment_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=True),
    sa.Column('serial_number', sa.String(length=80), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('installed_by_id', sa.Integer(), nullable=True),
    sa.Column('replaces_device_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_shipment_unit_device_id_device')),
    sa.ForeignKeyConstraint(['installed_by_id'], ['user_account.id'], name=op.f('fk_shipment_unit_installed_by_id_user_account')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_shipment_unit_order_line_id_order_line')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_shipment_unit_product_id_product')),
    sa.ForeignKeyConstraint(['replaces_device_id'], ['device.id'], name=op.f('fk_shipment_unit_replaces_device_id_device')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipment.id'], name=op.f('fk_shipment_unit_shipment_id_shipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_unit')),
    sa.UniqueConstraint('device_id', name=op.f('uq_shipment_unit_device_id')),
    sa.UniqueConstraint('serial_number', name=op.f('uq_shipment_unit_serial_number'))
    )
    with op.batch_alter_table('shipment_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_unit_shipment_id'), ['shipment_id'], unique=False)

    with op.batch_alter_table('cart_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cart_item_location_id_location'), 'location', ['location_id'], ['id'])

    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.add_column(sa.Column('street', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('city', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('region', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('postal_code', sa.String(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('country', sa.String(length=2), server_default='', nullable=False))
    with op.batch_alter_table('location', schema=None) as batch_op:
        for column in ('street', 'city', 'region', 'postal_code', 'country'):
            batch_op.alter_column(column, server_default=None)  # the default only filled existing locations

    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ship_to', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('shipping_minor', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_order_line_location_id_location'), 'location', ['location_id'], ['id'])

    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sku', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('shipping_per_order_minor', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('shipping_per_unit_minor', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('ships_to', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('becomes_device', sa.Boolean(), server_default=sa.text('(false)'), nullable=False))
        batch_op.create_unique_constraint(batch_op.f('uq_product_sku'), ['sku'])
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.alter_column('ships_to', server_default=None)  # the default only filled existing products
        batch_op.drop_constraint(op.f('ck_product_product_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_product_product_kind'), KINDS)
        batch_op.drop_constraint(op.f('ck_product_kind_fields'), type_='check')
        batch_op.create_check_constraint(op.f('ck_product_kind_fields'), KIND_FIELDS)
        batch_op.create_check_constraint(op.f('ck_product_shipping_not_negative'), SHIPPING)
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_order_line_product_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_order_line_product_kind'), KINDS)


def downgrade():
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_order_line_product_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_order_line_product_kind'), "kind IN ('license', 'subscription')")
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_product_shipping_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_product_kind_fields'), type_='check')
        batch_op.create_check_constraint(op.f('ck_product_kind_fields'), KIND_FIELDS.rsplit(" OR (kind = 'hardware'", 1)[0])
        batch_op.drop_constraint(op.f('ck_product_product_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_product_product_kind'), "kind IN ('license', 'subscription')")
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_product_sku'), type_='unique')
        batch_op.drop_column('becomes_device')
        batch_op.drop_column('ships_to')
        batch_op.drop_column('shipping_per_unit_minor')
        batch_op.drop_column('shipping_per_order_minor')
        batch_op.drop_column('sku')

    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_order_line_location_id_location'), type_='foreignkey')
        batch_op.drop_column('shipping_minor')
        batch_op.drop_column('ship_to')
        batch_op.drop_column('location_id')

    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_column('country')
        batch_op.drop_column('postal_code')
        batch_op.drop_column('region')
        batch_op.drop_column('city')
        batch_op.drop_column('street')

    with op.batch_alter_table('cart_item', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cart_item_location_id_location'), type_='foreignkey')
        batch_op.drop_column('location_id')

    with op.batch_alter_table('shipment_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_unit_shipment_id'))

    op.drop_table('shipment_unit')
    with op.batch_alter_table('return_request', schema=None) as batch_op:
        batch_op.drop_index('ix_return_request_state_created')
        batch_op.drop_index(batch_op.f('ix_return_request_organization_id'))
        batch_op.drop_index(batch_op.f('ix_return_request_device_id'))

    op.drop_table('return_request')
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.drop_index('ix_shipment_state_created')
        batch_op.drop_index('ix_shipment_organization_created')
        batch_op.drop_index(batch_op.f('ix_shipment_location_id'))

    op.drop_table('shipment')
