"""Installation Partner grants to partner organizations (GDAP-like), with expiry and the users who exercise them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
