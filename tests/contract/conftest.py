"""Fixtures of the contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tsuku_go


@pytest.fixture
def first_users_go_code_reads_every_control_file(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """After the test: the first user's generator and dashboard decode every control file batchops changed
    (``pytestmark = pytest.mark.usefixtures(...)`` in the modules whose scenarios write control files)."""
    yield
    tsuku_go.check_after_test(tmp_path, tmp_path_factory)
