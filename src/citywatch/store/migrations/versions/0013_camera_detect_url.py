"""A camera's register entry keeps its substream's address without credentials (issue 18):
``cameras.detect_url_redacted``, null for a one-stream camera.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cameras", sa.Column("detect_url_redacted", sa.String(length=2000), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("detect_url_redacted")
