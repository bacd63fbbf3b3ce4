"""Face alerts keep the scalar evidence they rest on (issue 14): frames used, per-frame scores
and quality, the face's size, the lead over the next entry and the threshold applied, as JSON
in ``alerts.face_evidence`` (no face, no embedding).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("face_evidence", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("face_evidence")
