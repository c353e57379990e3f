"""outbox attachments: files an email carries (the invoice PDF), by reference

A message names its attachments ([{"path": relative to the instance folder, "filename", "content_type"}]); the
worker reads the files when it delivers, so the outbox row stays small and the stored PDF is the one sent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('attachments')
