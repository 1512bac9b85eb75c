"""customer_billing.touch_point_run: each touch point runs once

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_billing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("touch_point_run", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("customer_billing", schema=None) as batch_op:
        batch_op.drop_column("touch_point_run")
