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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One CPU thread for the detector: on a busy 2-core runner two threads wait on each other (seconds per
    frame instead of a tenth); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def yolov5n_path(shared_assets) -> Path:
    return shared_assets / "models" / "yolov5n_coco_state_dict_fp16.pt"


@pytest.fixture(scope="session")
def inria_dev(shared_assets) -> Path:
    return shared_assets / "data" / "inria_test_pos" / "dev"


@pytest.fixture(scope="session")
def inria_holdout(shared_assets) -> Path:
    return shared_assets / "data" / "inria_test_pos" / "holdout"


@pytest.fixture(scope="session")
def resnet20_path(shared_assets) -> Path:
    return shared_assets / "models" / "resnet20-12fca82f.th"


@pytest.fixture(scope="session")
def cifar_three_classes(shared_assets, tmp_path_factory) -> Path:
    """Four CIFAR-10 dev images each of airplane, dog and ship, as class subfolders: no cat among them, so a
    targeted 'cat' attack has every image to work on."""
    import shutil

    folder = tmp_path_factory.mktemp("cifar_three_classes")
    for name in ("airplane", "dog", "ship"):
        (folder / name).mkdir()
        for image in sorted((shared_assets / "data" / "cifar10_test" / "dev" / name).iterdir())[:4]:
            shutil.copyfile(image, folder / name / image.name)
    return folder


def pytest_configure(config):
    import os
    import sys

    os.environ.setdefault("PATCHGEN_OFFLINE", "1")  # tests never download a model
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(Path(__file__).parent))  # tests' shared helpers


@pytest.fixture(scope="module")
def resnet(resnet20_path, one_torch_thread):
    """The offline CIFAR ResNet20 as a victim (served behind the HTTP test server, or queried directly)."""
    from patchgen.victims import load_victim

    return load_victim(f"cifar_resnet20:{resnet20_path}")


@pytest.fixture(scope="session")
def cifar_holdout_images(shared_assets):
    """The first holdout image of each of eight classes, (8,3,32,32) in [0,1]: uint8 pixels already, so a PNG
    keeps them."""
    import torch

    from patchgen.image_io import read_image
    from patchgen.victims.cifar_resnet import CIFAR10_NAMES

    folder = shared_assets / "data" / "cifar10_test" / "holdout"
    paths = [sorted((folder / name).iterdir())[0] for name in CIFAR10_NAMES[:8]]
    return torch.stack([torch.from_numpy(read_image(p)).permute(2, 0, 1).float() / 255 for p in paths])
