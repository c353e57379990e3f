"""licenses by the order line that made them (issue 16/18): an order's page, its invoice and the API's order read
their licenses through it; without an index each read scanned the whole license table (722 ms at 100,000 licenses)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 20:02:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_license_order_line_id', 'license', ['order_line_id'], unique=False)


def downgrade():
    op.drop_index('ix_license_order_line_id', table_name='license')
