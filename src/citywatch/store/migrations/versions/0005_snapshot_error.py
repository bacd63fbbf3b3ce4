"""Alerts and plate reads say why their evidence snapshot is missing (media folder full or
read-only): ``snapshot_error``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("alerts", "plate_reads")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("snapshot_error", sa.String(length=300), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("snapshot_error")
