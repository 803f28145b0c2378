import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")  # no windows from plotting helpers under test


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT
