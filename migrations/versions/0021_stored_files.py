"""stored files (issue 18 item 6): the stored_file table, where STORAGE_BACKEND=database keeps invoice and receipt
PDFs, storefront logos, transfer authorizations and outbox attachments, so several nodes sharing the database
read the files any of them stored

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stored_file',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_stored_file'))
    )


def downgrade():
    op.drop_table('stored_file')
