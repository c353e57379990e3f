"""credit refunds (issue 21 item 6): a credit note's credit refunded to the card that paid the invoice it
corrects, recorded pending before the processor is asked (its idempotency key is the row's id), then succeeded
with the processor's refund id, or failed (the credit back on the note); `payments reconcile` retries the pending

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:44:19

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('credit_refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_note_id', sa.Integer(), nullable=False),
    sa.Column('charge_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'succeeded', 'failed', name='credit_refund_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('refund_id', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_credit_refund_amount_positive')),
    sa.ForeignKeyConstraint(['credit_note_id'], ['invoice.id'], name=op.f('fk_credit_refund_credit_note_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_refund')),
    sa.UniqueConstraint('credit_note_id', name=op.f('uq_credit_refund_credit_note_id'))
    )
    with op.batch_alter_table('credit_refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_refund_charge_id'), ['charge_id'], unique=False)
        batch_op.create_index('ix_credit_refund_status_created', ['status', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('credit_refund', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_refund_status_created')
        batch_op.drop_index(batch_op.f('ix_credit_refund_charge_id'))

    op.drop_table('credit_refund')
