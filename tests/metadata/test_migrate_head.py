"""The head revision read from the revision files (without importing Alembic) is the one Alembic reads."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from cargohold.metadata.migrate import alembic_config, head_revision


def test_head_revision_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
