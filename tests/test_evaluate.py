import math

import torch

from patchgen.artifacts import load_artifact
from patchgen.data import load_scenes
from patchgen.detector_evaluation import evaluate
from patchgen.victims import load_victim
from spine_helpers import on_targets


def test_clean_detection_protocol_patches_every_detected_person(yolov5n_path, inria_holdout, shared_assets,
                                                                 one_torch_thread):
    # Thys et al.'s column puts the patch on the clean detections, so it must not depend on the labels at all:
    # with every label removed (nothing patched by label) the peer patch still lowers it, by exactly as much.
    victim = load_victim(yolov5n_path, imgsz=320)
    scenes, _ = load_scenes(inria_holdout, 320, [0], labels="files", quiet=True)
    scenes = scenes.subset(torch.arange(8))
    peer = load_artifact(shared_assets / "peer_patches" / "thys2019_object_score.png")
    labelled = evaluate(victim, scenes, peer, [0], on_targets(peer.size, 0.35), progress=False).table
    scenes.mask[:] = False
    unlabelled = evaluate(victim, scenes, peer, [0], on_targets(peer.size, 0.35), progress=False).table
    assert labelled["clean"]["ap50_clean"] == 1.0
    assert unlabelled["adv"]["ap50_clean"] == labelled["adv"]["ap50_clean"] < 0.8
    assert unlabelled["noise"]["ap50_clean"] == labelled["noise"]["ap50_clean"]
    assert math.isnan(unlabelled["adv"]["ap50_labels"])
