import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")  # no windows from plotting helpers under test
# CIFAR-10 from the course's offline copy (CI has no internet); notebooks and graders inherit it.
_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
if _SHARED_DATA.is_dir():
    os.environ.setdefault("HW3_DATA_DIR", str(_SHARED_DATA))


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT
