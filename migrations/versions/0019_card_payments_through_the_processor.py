"""card payments through the processor (issue 21): the sandbox gateway's cards become the sandbox processor's
payment methods (saved cards keep working: their token is the payment method's id), its charge table goes; a
payment attempt keeps what completes its purchase when the buyer returns from the processor (`details`), and is
found by its payment intent's id

Attempts still open at the upgrade (a charge of the old gateway with no order) are closed as voided: the old
gateway's records go with its tables.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 13:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_intent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_payment_intent_gateway_charge_id'), ['gateway_charge_id'], unique=False)
    op.execute("UPDATE payment_intent SET details = '{}'")
    with op.batch_alter_table('payment_intent', schema=None) as batch_op:
        batch_op.alter_column('details', existing_type=sa.JSON(), nullable=False)
    op.execute("UPDATE payment_intent SET status = 'voided' WHERE status IN ('pending', 'charged', 'voiding')")
    # A saved card's token names the old gateway's card: the same id becomes a processor payment method.
    op.execute("""
        INSERT INTO sandbox_payment_method (id, brand, last4, exp_month, exp_year, holder_name, outcome, created_at)
        SELECT c.token, MIN(m.brand), MIN(m.last4), MIN(m.exp_month), MIN(m.exp_year), MIN(m.holder_name),
               CASE WHEN c.outcome = 'decline' THEN 'decline' ELSE 'approve' END, c.created_at
        FROM sandbox_card c JOIN payment_method m ON m.gateway_token = c.token
        WHERE c.token NOT IN (SELECT id FROM sandbox_payment_method)
        GROUP BY c.token, c.outcome, c.created_at
    """)
    op.drop_table('sandbox_charge')
    op.drop_table('sandbox_card')


def downgrade():
    op.create_table('sandbox_card',
    sa.Column('token', sa.String(length=128), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_sandbox_card'))
    )
    op.create_table('sandbox_charge',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('token', sa.String(length=128), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_charge')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_sandbox_charge_idempotency_key'))
    )
    op.execute("""
        INSERT INTO sandbox_card (token, outcome, created_at)
        SELECT id, CASE WHEN outcome = 'approve' THEN 'approve' ELSE 'decline' END, created_at
        FROM sandbox_payment_method WHERE id IN (SELECT gateway_token FROM payment_method)
    """)
    with op.batch_alter_table('payment_intent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_intent_gateway_charge_id'))
        batch_op.drop_column('details')
