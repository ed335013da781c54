"""What reaches the terminal: one patchgen line for a bad victim file or image, patchgen's own warning for a
damaged or oversized image (never a library's), and no Ultralytics banner on first use."""

import json
import shutil
import struct
import zlib

import pytest
import torch

from capture_helpers import exported_peer_patch
from patchgen.errors import UserError
from patchgen.image_io import read_image
from patchgen.victims import load_victim
from spine_helpers import two_image_folder
from test_config_and_cli import one_error_line, run_cli, write_config


def huge_png(path, side=33000):
    """A valid 1-bit greyscale PNG of side x side pixels (over OpenCV's 2^30-pixel limit), written row by row
    through zlib: about 130 KB on disk, and nothing of its billion pixels is ever held in memory."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then black pixels
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def damaged_jpeg(source, path):
    """A real photo with 100 bytes of its entropy-coded data scrambled: libjpeg decodes it and complains."""
    data = bytearray(source.read_bytes())
    for i in range(5000, 5100):
        data[i] = 0xFF if i % 7 == 0 else data[i] ^ 0x55
    path.write_bytes(bytes(data))
    return path


def victim_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("these are my notes, not a model\n")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    state_dict = tmp_path / "linear_state_dict.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), state_dict)
    module = tmp_path / "pickled_module.pt"
    torch.save(torch.nn.Linear(3, 2), module)
    folder = tmp_path / "model.pt"
    folder.mkdir()
    return {"text renamed .pt": text, "empty .pt": empty, "another model's state dict": state_dict,
            "a pickled torch module": module, "a folder": folder}


@pytest.mark.parametrize("case, says", [
    ("text renamed .pt", "is not a PyTorch checkpoint"), ("empty .pt", "is not a PyTorch checkpoint"),
    ("another model's state dict", "holds a state dict (2 tensors"),
    ("a pickled torch module", "it holds torch.nn.modules.linear.Linear"), ("a folder", "is a folder, not a file")])
def test_a_bad_victim_file_is_one_patchgen_line(tmp_path, capfd, case, says):
    path = victim_files(tmp_path)[case]
    with pytest.raises(UserError) as caught:
        load_victim(path)
    message = str(caught.value)
    assert says in message and path.name in message, message
    assert "\n" not in message and "TypeError" not in message and "yolo " not in message, message
    printed = capfd.readouterr()
    assert printed.out + printed.err == ""  # no "WARNING ... improperly saved" from Ultralytics either


def test_a_victim_text_file_through_the_cli(tmp_path, inria_dev):
    victim = victim_files(tmp_path)["text renamed .pt"]
    config = write_config(tmp_path / "c.yaml", victim, inria_dev)
    line = one_error_line(run_cli("train", config, "--out", tmp_path / "run"))
    assert line == f"patchgen train: error: {victim} is not a PyTorch checkpoint (empty, truncated or another " \
                   "kind of file)"


def test_an_image_path_that_is_a_folder_says_so(tmp_path):
    with pytest.raises(UserError, match="is a folder, not a file"):
        read_image(tmp_path)


def test_an_oversized_jpeg_says_its_size(tmp_path, inria_dev):
    # crop001501.jpg with its frame header claiming 40000 x 30000 px: OpenCV refuses it before decoding
    data = bytearray((inria_dev / "images" / "crop001501.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 40000)
    (tmp_path / "huge.jpg").write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"huge.jpg: too large to decode: 40000 x 30000 px"):
        read_image(tmp_path / "huge.jpg")


def test_training_on_bad_images_prints_only_patchgens_lines(tmp_path, yolov5n_path, inria_dev, monkeypatch):
    # A fresh Ultralytics settings folder (its first use), a damaged JPEG, a truncated one and an image over
    # OpenCV's pixel limit: training goes on, and every line on the terminal is patchgen's own.
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "fresh_ultralytics_settings"))
    data = two_image_folder(inria_dev, tmp_path / "data")
    photo, label = inria_dev / "images" / "crop001501.jpg", inria_dev / "labels" / "crop001501.txt"
    damaged_jpeg(photo, data / "images" / "damaged.jpg")
    (data / "images" / "truncated.jpg").write_bytes(photo.read_bytes()[:20000])
    huge_png(data / "images" / "huge.png")
    for stem in ("damaged", "truncated", "huge"):
        shutil.copyfile(label, data / "labels" / f"{stem}.txt")
    config = write_config(tmp_path / "c.yaml", yolov5n_path, data)

    result = run_cli("train", config, "--out", tmp_path / "run", "--quiet", "--no-eval")
    assert result.returncode == 0, result.stderr
    assert "Ultralytics" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith(("warning: ", "data: ", "run: ")) for line in lines), lines
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 3
    assert any("damaged.jpg" in w and "Corrupt JPEG data" in w and "decoded anyway" in w for w in warnings)
    assert any("truncated.jpg" in w and "skipping unreadable image" in w for w in warnings)
    assert any("huge.png: too large to decode: 33000 x 33000 px" in w for w in warnings)
    assert json.loads((tmp_path / "run" / "patch.json").read_text())["data"]["skipped"] == 2


def test_score_names_an_oversized_photo_and_writes_nothing(tmp_path, shared_assets, yolov5n_path, inria_holdout):
    run = tmp_path / "run"
    exported_peer_patch(run, shared_assets, yolov5n_path)
    huge = huge_png(tmp_path / "huge.png")
    photo = sorted((inria_holdout / "images").glob("*.jpg"))[0]
    line = one_error_line(run_cli("score", huge, photo, "--run", run, "--out", tmp_path / "score"))
    assert "nothing could be scored: 1 of 2 inputs cannot be read" in line
    assert "too large to decode: 33000 x 33000 px" in line
    assert not (tmp_path / "score").exists()
