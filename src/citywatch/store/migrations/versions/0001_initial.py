"""Initial schema: cameras, authorisations, watchlists, hotlists, reads, alerts, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
    )
    op.create_table(
        "authorisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("scope_cameras", sa.JSON(), nullable=False),
        sa.Column("scope_zones", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'revoked')", name=op.f("ck_authorisations_status")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_authorisations_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorisations")),
        sa.UniqueConstraint("reference", name=op.f("uq_authorisations_reference")),
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url_redacted", sa.String(length=2000), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("zone", sa.String(length=200), nullable=False),
        sa.Column("withhold_location", sa.String(length=500), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("impact_assessment", sa.String(length=500), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
    )
    op.create_table(
        "hotlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotlists")),
        sa.UniqueConstraint("name", name=op.f("uq_hotlists_name")),
    )
    op.create_table(
        "face_counts",
        sa.Column("camera_id", sa.String(length=63), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tracks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_face_counts_camera_id_cameras"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("camera_id", "day", name=op.f("pk_face_counts")),
    )
    op.create_table(
        "hotlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hotlist_id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=False),
        sa.Column("raw", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hotlist_id"],
            ["hotlists.id"],
            name=op.f("fk_hotlist_entries_hotlist_id_hotlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotlist_entries")),
        sa.UniqueConstraint(
            "hotlist_id", "plate", name=op.f("uq_hotlist_entries_hotlist_id_plate")
        ),
    )
    op.create_index(op.f("ix_hotlist_entries_plate"), "hotlist_entries", ["plate"], unique=False)

    op.create_table(
        "plate_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=63), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("plate_format", sa.String(length=10), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("first_seen_s", sa.Float(), nullable=False),
        sa.Column("last_seen_s", sa.Float(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_path", sa.String(length=500), nullable=True),
        sa.Column("evidence_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_plate_reads_camera_id_cameras"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plate_reads")),
        sa.UniqueConstraint("event_id", name=op.f("uq_plate_reads_event_id")),
    )
    op.create_index(
        "ix_plate_reads_camera_id_last_seen_at",
        "plate_reads",
        ["camera_id", "last_seen_at"],
        unique=False,
    )
    op.create_index(op.f("ix_plate_reads_plate"), "plate_reads", ["plate"], unique=False)

    op.create_table(
        "watchlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("authorisation_id", sa.Integer(), nullable=False),
        sa.Column("max_subjects", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["authorisations.id"],
            name=op.f("fk_watchlists_authorisation_id_authorisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
        sa.UniqueConstraint("name", name=op.f("uq_watchlists_name")),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("image_source", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_subjects_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("watchlist_id", "name", name=op.f("uq_subjects_watchlist_id_name")),
    )
    op.create_index(op.f("ix_subjects_watchlist_id"), "subjects", ["watchlist_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("camera_id", sa.String(length=63), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("watchlist_id", sa.Integer(), nullable=True),
        sa.Column("hotlist_entry_id", sa.Integer(), nullable=True),
        sa.Column("plate_read_id", sa.Integer(), nullable=True),
        sa.Column("subject_name", sa.String(length=200), nullable=True),
        sa.Column("list_name", sa.String(length=200), nullable=True),
        sa.Column("plate", sa.String(length=20), nullable=True),
        sa.Column("read", sa.String(length=20), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_s", sa.Float(), nullable=False),
        sa.Column("last_seen_s", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_path", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('face', 'plate')", name=op.f("ck_alerts_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'rejected')", name=op.f("ck_alerts_status")
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_alerts_camera_id_cameras"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["hotlist_entry_id"],
            ["hotlist_entries.id"],
            name=op.f("fk_alerts_hotlist_entry_id_hotlist_entries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plate_read_id"],
            ["plate_reads.id"],
            name=op.f("fk_alerts_plate_read_id_plate_reads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_alerts_subject_id_subjects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_alerts_watchlist_id_watchlists"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("event_id", name=op.f("uq_alerts_event_id")),
    )
    op.create_index("ix_alerts_camera_id_seen_at", "alerts", ["camera_id", "seen_at"], unique=False)
    op.create_index("ix_alerts_status_created_at", "alerts", ["status", "created_at"], unique=False)

    op.create_table(
        "subject_embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("photo_path", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_subject_embeddings_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_embeddings")),
    )
    op.create_index(
        op.f("ix_subject_embeddings_subject_id"), "subject_embeddings", ["subject_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_subject_embeddings_subject_id"), table_name="subject_embeddings")

    op.drop_table("subject_embeddings")
    op.drop_index("ix_alerts_status_created_at", table_name="alerts")
    op.drop_index("ix_alerts_camera_id_seen_at", table_name="alerts")

    op.drop_table("alerts")
    op.drop_index(op.f("ix_subjects_watchlist_id"), table_name="subjects")

    op.drop_table("subjects")
    op.drop_table("watchlists")
    op.drop_index(op.f("ix_plate_reads_plate"), table_name="plate_reads")
    op.drop_index("ix_plate_reads_camera_id_last_seen_at", table_name="plate_reads")

    op.drop_table("plate_reads")
    op.drop_index(op.f("ix_hotlist_entries_plate"), table_name="hotlist_entries")

    op.drop_table("hotlist_entries")
    op.drop_table("face_counts")
    op.drop_table("hotlists")
    op.drop_table("cameras")
    op.drop_table("authorisations")
    op.drop_table("audit_log")
