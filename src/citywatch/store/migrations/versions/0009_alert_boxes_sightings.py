"""The evidence box of alerts and plate reads (``box_x0`` .. ``box_y1``: the matched face or
the plate in the snapshot, so the review page can show its crop), and repeat sightings counted
on a pending alert (``alerts.sightings``, ``alerts.last_sighting_at``, table
``alert_sightings``) instead of new alerts (issue 16).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BOX = ("box_x0", "box_y0", "box_x1", "box_y1")


def upgrade() -> None:
    for table in ("alerts", "plate_reads"):
        for name in _BOX:
            op.add_column(table, sa.Column(name, sa.Float(), nullable=True))
    op.add_column(
        "alerts", sa.Column("sightings", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "alerts", sa.Column("last_sighting_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "alert_sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("plate_read_id", sa.Integer(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_sightings_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plate_read_id"],
            ["plate_reads.id"],
            name=op.f("fk_alert_sightings_plate_read_id_plate_reads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_sightings")),
        sa.UniqueConstraint("event_id", name=op.f("uq_alert_sightings_event_id")),
    )
    op.create_index(
        op.f("ix_alert_sightings_alert_id"), "alert_sightings", ["alert_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_sightings_alert_id"), table_name="alert_sightings")
    op.drop_table("alert_sightings")
    for table in ("alerts", "plate_reads"):
        with op.batch_alter_table(table) as batch:
            if table == "alerts":
                batch.drop_column("last_sighting_at")
                batch.drop_column("sightings")
            for name in reversed(_BOX):
                batch.drop_column(name)
