"""Shared fixtures: the offline assets beside the clone (../shared/assets), small and real."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ASSETS = REPO.parent / "shared" / "assets"


@pytest.fixture(scope="session")
def shared_assets() -> Path:
    if not SHARED_ASSETS.is_dir():
        pytest.fail(f"offline assets not found at {SHARED_ASSETS} (clone the repo beside shared/)")
    return SHARED_ASSETS


@pytest.fixture(scope="session")
def yolov5n_path(shared_assets) -> Path:
    return shared_assets / "models" / "yolov5n_coco_state_dict_fp16.pt"


@pytest.fixture(scope="session")
def inria_dev(shared_assets) -> Path:
    return shared_assets / "data" / "inria_test_pos" / "dev"


@pytest.fixture(scope="session")
def inria_holdout(shared_assets) -> Path:
    return shared_assets / "data" / "inria_test_pos" / "holdout"


def pytest_configure(config):
    import os
    import sys

    os.environ.setdefault("PATCHGEN_OFFLINE", "1")  # tests never download a model
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(Path(__file__).parent))  # tests' shared helpers
