"""Continuous recording (issue 17): ``recording_segments``, one row per fragmented-MP4
segment of a camera's recording (path relative to the media folder, size, SHA-256, and
whether it is complete: a partial segment is never served).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=63), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_recording_segments_period"),
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_recording_segments_camera_id_cameras"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_segments")),
        sa.UniqueConstraint("path", name=op.f("uq_recording_segments_path")),
    )
    op.create_index(
        "ix_recording_segments_camera_id_started_at",
        "recording_segments",
        ["camera_id", "started_at"],
    )
    op.create_index(op.f("ix_recording_segments_complete"), "recording_segments", ["complete"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recording_segments_complete"), table_name="recording_segments")
    op.drop_index("ix_recording_segments_camera_id_started_at", table_name="recording_segments")
    op.drop_table("recording_segments")
