"""billing_event.apply_attempts: an event that keeps failing to apply ends as failed

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("apply_attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("billing_event", schema=None) as batch_op:
        batch_op.drop_column("apply_attempts")
