"""API keys (issue 16): a manager's keys for the automation API (only a hash of the secret), the stored answers
of requests sent with an Idempotency-Key (one per key and idempotency key), and the key an audit entry's API
call came with

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 18:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), sa.ForeignKey('organization.id', name='fk_api_key_organization_id_organization'), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('user_account.id', name='fk_api_key_created_by_id_user_account'), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_by_id', sa.Integer(), sa.ForeignKey('user_account.id', name='fk_api_key_revoked_by_id_user_account'), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_ip', sa.String(length=45), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_api_key'),
        sa.UniqueConstraint('prefix', name='uq_api_key_prefix'),
        sa.UniqueConstraint('secret_hash', name='uq_api_key_secret_hash'),
    )
    op.create_index('ix_api_key_org_created', 'api_key', ['organization_id', 'created_at'])
    op.create_table(
        'api_idempotent_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), sa.ForeignKey('api_key.id', name='fk_api_idempotent_request_api_key_id_api_key'), nullable=False),
        sa.Column('idempotency_key', sa.String(length=255), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('path', sa.String(length=500), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('response_body', sa.Text(), nullable=True),
        sa.Column('response_headers', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_api_idempotent_request'),
        sa.UniqueConstraint('api_key_id', 'idempotency_key', name='uq_api_idempotent_request_key'),
    )
    op.create_index('ix_api_idempotent_request_created', 'api_idempotent_request', ['created_at'])
    with op.batch_alter_table('audit_entry') as batch:
        batch.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_audit_entry_api_key_id_api_key', 'api_key', ['api_key_id'], ['id'])


def downgrade():
    with op.batch_alter_table('audit_entry') as batch:
        batch.drop_constraint('fk_audit_entry_api_key_id_api_key', type_='foreignkey')
        batch.drop_column('api_key_id')
    op.drop_index('ix_api_idempotent_request_created', table_name='api_idempotent_request')
    op.drop_table('api_idempotent_request')
    op.drop_index('ix_api_key_org_created', table_name='api_key')
    op.drop_table('api_key')
