"""a reseller's licenses by M&S end, then id (issue 16/18): the API's license list orders a book by (ms_expires_on, id);
PostgreSQL's index on (owner_id, ms_expires_on) alone left it an incremental sort over each page (SQLite appends the
rowid to every index, so it read the order already). The wider index replaces it: it serves every lookup the old one
did (the renewals window, a lookup by owner).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 00:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_license_owner_ms_id', 'license', ['owner_id', 'ms_expires_on', 'id'], unique=False)
    op.drop_index('ix_license_owner_ms', table_name='license')


def downgrade():
    op.create_index('ix_license_owner_ms', 'license', ['owner_id', 'ms_expires_on'], unique=False)
    op.drop_index('ix_license_owner_ms_id', table_name='license')
