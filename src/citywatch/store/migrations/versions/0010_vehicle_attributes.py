"""Plate reads carry the type and colour of the vehicle that held the plate (issue 20):
``vehicle_kind``, ``vehicle_colour`` (indexed: investigators search by them) and
``vehicle_score``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("plate_reads", sa.Column("vehicle_kind", sa.String(length=20), nullable=True))
    op.add_column("plate_reads", sa.Column("vehicle_colour", sa.String(length=20), nullable=True))
    op.add_column("plate_reads", sa.Column("vehicle_score", sa.Float(), nullable=True))
    op.create_index("ix_plate_reads_vehicle_kind", "plate_reads", ["vehicle_kind"])
    op.create_index("ix_plate_reads_vehicle_colour", "plate_reads", ["vehicle_colour"])


def downgrade() -> None:
    op.drop_index("ix_plate_reads_vehicle_colour", table_name="plate_reads")
    op.drop_index("ix_plate_reads_vehicle_kind", table_name="plate_reads")
    with op.batch_alter_table("plate_reads") as batch:
        batch.drop_column("vehicle_score")
        batch.drop_column("vehicle_colour")
        batch.drop_column("vehicle_kind")
