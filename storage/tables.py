"""Imports every table module so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from sqlmodel import SQLModel

from storage import (
    contract_models,  # noqa: F401
    models,  # noqa: F401
    schedule_models,  # noqa: F401
)

metadata = SQLModel.metadata
