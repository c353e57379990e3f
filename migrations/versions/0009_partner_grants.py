"""Installation Partner grants to partner organizations (GDAP-like), with expiry and the users who exercise them

Existing per-person access (an active installer membership of a main chain, given to a user who is an active
manager or Master user of another main chain: what /account/partners created) becomes a grant from that customer to
the person's own main chain, active for one year from the day of the migration, with the person assigned; those
memberships are removed. An installer membership of a user with no other main chain is the customer's own
installer (added on its users page) and stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:00:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('requested', 'active')")

membership = sa.table('membership', sa.column('id', sa.Integer), sa.column('user_id', sa.Integer),
                      sa.column('organization_id', sa.Integer), sa.column('role', sa.String),
                      sa.column('active', sa.Boolean), sa.column('created_at', sa.DateTime(timezone=True)))
organization = sa.table('organization', sa.column('id', sa.Integer), sa.column('parent_id', sa.Integer))
grant = sa.table('partner_grant', sa.column('id', sa.Integer), sa.column('customer_id', sa.Integer),
                 sa.column('partner_id', sa.Integer), sa.column('requested_email', sa.String),
                 sa.column('roles', sa.String), sa.column('state', sa.String), sa.column('starts_on', sa.Date),
                 sa.column('expires_on', sa.Date), sa.column('created_at', sa.DateTime(timezone=True)),
                 sa.column('decided_at', sa.DateTime(timezone=True)))
assignment = sa.table('partner_assignment', sa.column('id', sa.Integer), sa.column('grant_id', sa.Integer),
                      sa.column('user_id', sa.Integer), sa.column('created_at', sa.DateTime(timezone=True)))


def _one_year_later(day):
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def upgrade():
    op.create_table('partner_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('requested_email', sa.String(length=254), nullable=False),
    sa.Column('roles', sa.String(length=100), nullable=False),
    sa.Column('state', sa.Enum('requested', 'active', 'declined', 'withdrawn', 'revoked', 'expired', name='partner_grant_state', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_partner_grant_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['customer_id'], ['organization.id'], name=op.f('fk_partner_grant_customer_id_organization')),
    sa.ForeignKeyConstraint(['partner_id'], ['organization.id'], name=op.f('fk_partner_grant_partner_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_grant'))
    )
    with op.batch_alter_table('partner_grant', schema=None) as batch_op:
        batch_op.create_index('ix_partner_grant_customer_state', ['customer_id', 'state'], unique=False)
        batch_op.create_index('ix_partner_grant_partner_state', ['partner_id', 'state'], unique=False)
        batch_op.create_index('uq_partner_grant_open', ['customer_id', 'partner_id'], unique=True,
                              postgresql_where=OPEN, sqlite_where=OPEN)

    op.create_table('partner_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['partner_grant.id'], name=op.f('fk_partner_assignment_grant_id_partner_grant')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_partner_assignment_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_assignment')),
    sa.UniqueConstraint('grant_id', 'user_id', name='uq_partner_assignment_grant_user')
    )
    with op.batch_alter_table('partner_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_assignment_user_id'), ['user_id'], unique=False)

    _migrate_installer_memberships()


def _migrate_installer_memberships():
    conn = op.get_bind()
    now = datetime.now(timezone.utc)
    today = now.date()
    customer = organization.alias('customer')
    old = conn.execute(
        sa.select(membership.c.id, membership.c.user_id, membership.c.organization_id)
        .join(customer, customer.c.id == membership.c.organization_id)
        .where(membership.c.role == 'installer', membership.c.active.is_(True), customer.c.parent_id.is_(None))
        .order_by(membership.c.id)
    ).all()
    grants = {}
    for membership_id, user_id, customer_id in old:
        home = organization.alias('home')
        partner_id = conn.scalar(
            sa.select(membership.c.organization_id)
            .join(home, home.c.id == membership.c.organization_id)
            .where(membership.c.user_id == user_id, membership.c.active.is_(True),
                   membership.c.role.in_(('manager', 'member')), home.c.parent_id.is_(None),
                   membership.c.organization_id != customer_id)
            .order_by(membership.c.id).limit(1)
        )
        if partner_id is None:
            continue  # the customer's own installer, not a partner's
        key = (customer_id, partner_id)
        if key not in grants:
            conn.execute(grant.insert().values(
                customer_id=customer_id, partner_id=partner_id, requested_email='', roles='installer',
                state='active', starts_on=today, expires_on=_one_year_later(today), created_at=now, decided_at=now))
            grants[key] = conn.scalar(sa.select(grant.c.id).where(
                grant.c.customer_id == customer_id, grant.c.partner_id == partner_id, grant.c.state == 'active'))
        conn.execute(assignment.insert().values(grant_id=grants[key], user_id=user_id, created_at=now))
        conn.execute(membership.delete().where(membership.c.id == membership_id))


def downgrade():
    # Per-person access again: each user assigned to an active grant gets an installer membership of the customer.
    conn = op.get_bind()
    now = datetime.now(timezone.utc)
    rows = conn.execute(
        sa.select(assignment.c.user_id, grant.c.customer_id)
        .join(grant, grant.c.id == assignment.c.grant_id)
        .where(grant.c.state == 'active', grant.c.customer_id.is_not(None))
    ).all()
    for user_id, customer_id in rows:
        exists = conn.scalar(sa.select(membership.c.id).where(
            membership.c.user_id == user_id, membership.c.organization_id == customer_id))
        if exists is None:
            conn.execute(membership.insert().values(user_id=user_id, organization_id=customer_id, role='installer',
                                                    active=True, created_at=now))
    with op.batch_alter_table('partner_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_assignment_user_id'))
    op.drop_table('partner_assignment')
    with op.batch_alter_table('partner_grant', schema=None) as batch_op:
        batch_op.drop_index('uq_partner_grant_open', postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.drop_index('ix_partner_grant_partner_state')
        batch_op.drop_index('ix_partner_grant_customer_state')
    op.drop_table('partner_grant')
