"""Hotlist entries may say which vehicle the plate belongs on, and plate alerts keep the
vehicle seen beside the one expected (issue 20): ``hotlist_entries.vehicle_kind`` and
``vehicle_colour``; ``alerts.vehicle_kind``, ``vehicle_colour``, ``expected_vehicle_kind``,
``expected_vehicle_colour``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALERT_COLUMNS = (
    "vehicle_kind",
    "vehicle_colour",
    "expected_vehicle_kind",
    "expected_vehicle_colour",
)


def upgrade() -> None:
    for name in ("vehicle_kind", "vehicle_colour"):
        op.add_column("hotlist_entries", sa.Column(name, sa.String(length=20), nullable=True))
    for name in _ALERT_COLUMNS:
        op.add_column("alerts", sa.Column(name, sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        for name in reversed(_ALERT_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("hotlist_entries") as batch:
        batch.drop_column("vehicle_colour")
        batch.drop_column("vehicle_kind")
