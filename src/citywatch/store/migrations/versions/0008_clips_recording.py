"""Evidence clips of alerts (``alerts.clip_path``, ``alerts.clip_error``) and continuous
recording in the camera register (``cameras.records``, ``cameras.record_retain_hours``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("clip_path", sa.String(length=500), nullable=True))
    op.add_column("alerts", sa.Column("clip_error", sa.String(length=300), nullable=True))
    op.add_column(
        "cameras",
        sa.Column("records", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("cameras", sa.Column("record_retain_hours", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("record_retain_hours")
        batch.drop_column("records")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("clip_error")
        batch.drop_column("clip_path")
