"""payment intents: each attempt to take money is recorded before the charge, so orphan charges can be voided

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:31:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_intent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('purpose_key', sa.String(length=128), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('pending', 'charged', 'succeeded', 'declined', 'voiding', 'voided', name='intent_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('gateway_charge_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_payment_intent_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_intent')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payment_intent_idempotency_key'))
    )
    with op.batch_alter_table('payment_intent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_intent_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_intent_purpose_key'), ['purpose_key'], unique=False)
        batch_op.create_index('ix_payment_intent_status_created', ['status', 'created_at'], unique=False)


def downgrade():
    op.drop_table('payment_intent')
