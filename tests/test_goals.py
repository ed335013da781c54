import math

import torch
import torchvision

from patchgen.data import Scenes, load_scenes
from patchgen.goals.detector_match import AP_CONF, box_iou
from patchgen.victims import load_victim
from spine_helpers import vanish_goal


def vanish_each_target(victim, out, boxes, mask, log_weight=0.0):
    return vanish_goal(victim, "target", log_weight).loss(out, Scenes(None, boxes, mask, []), None)


def vanish(victim, out):
    return vanish_goal(victim, "image").loss(out, None, None)


def test_box_iou_matches_torchvision():
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(2, 7, 2, 2, generator=generator) * 300
    boxes = torch.cat([corners.amin(2), corners.amax(2)], -1)  # (2,7,4) xyxy
    for a, b in ((boxes[0], boxes[1]), (boxes[1], boxes[1])):
        assert torch.allclose(box_iou(a[None], b[None])[0], torchvision.ops.box_iou(a, b), atol=1e-6)


def test_each_target_objective_counts_every_person(yolov5n_path, inria_dev, one_torch_thread):
    # An image with two separate, confidently detected people. Greying out the less confident one leaves the
    # image-wide maximum where it was (the other person still holds it) but halves the per-target mean: the
    # image-wide objective would give that person no gradient at all.
    victim = load_victim(yolov5n_path, imgsz=320)
    scenes, _ = load_scenes(inria_dev, 320, [0], labels="files", max_targets=2, quiet=True)
    two = (scenes.mask.sum(1) == 2) & (box_iou(scenes.boxes, scenes.boxes)[:, 0, 1] == 0)
    scenes = scenes.batch(two.nonzero().squeeze(1)[:8])
    with torch.no_grad():
        out = victim(scenes.images)
        per_target = vanish_each_target(victim, out, scenes.boxes, scenes.mask)
        whole = vanish(victim, out)
    i = int(torch.argmax(per_target))  # the image where both people are detected best
    assert per_target[i] > 0.6 and per_target[i] <= whole[i] + 1e-6

    image = scenes.images[i : i + 1].clone()
    with torch.no_grad():
        out = victim(image)
        each = [vanish_each_target(victim, out, scenes.boxes[i : i + 1, k : k + 1],
                                   scenes.mask[i : i + 1, k : k + 1]).item() for k in range(2)]
        weaker = int(each[0] > each[1])
        x1, y1, x2, y2 = scenes.boxes[i, weaker].round().int().tolist()
        image[..., y1:y2, x1:x2] = 0.5
        out = victim(image)
        greyed_each = vanish_each_target(victim, out, scenes.boxes[i : i + 1], scenes.mask[i : i + 1])
        greyed_whole = vanish(victim, out)
    assert abs(greyed_whole.item() - whole[i].item()) < 0.05, (whole[i], greyed_whole)
    assert greyed_each.item() < per_target[i].item() - 0.25, (per_target[i], greyed_each)


def test_the_log_term_adds_each_targets_log_confidence_down_to_the_ap_floor(yolov5n_path, inria_dev,
                                                                             one_torch_thread):
    # Two people, one greyed out of the image: with loss.vanish_log the objective is the mean over people of
    # c + w log(c) (a candidate near neither box must not count as a confidence of 0), and the greyed person, whose
    # best candidate falls under the AP floor, counts at log(0.001), not at its own far lower log.
    victim = load_victim(yolov5n_path, imgsz=320)
    scenes, _ = load_scenes(inria_dev, 320, [0], labels="files", max_targets=2, quiet=True)
    two = (scenes.mask.sum(1) == 2) & (box_iou(scenes.boxes, scenes.boxes)[:, 0, 1] == 0)
    scenes = scenes.batch(two.nonzero().squeeze(1)[:1])
    image = scenes.images.clone()
    x1, y1, x2, y2 = scenes.boxes[0, 1].round().int().tolist()
    image[..., y1:y2, x1:x2] = 0.5
    with torch.no_grad():
        out = victim(image)
        each = [vanish_each_target(victim, out, scenes.boxes[:, k : k + 1], scenes.mask[:, k : k + 1]).item()
                for k in range(2)]
        with_log = vanish_each_target(victim, out, scenes.boxes, scenes.mask, 0.1).item()
    assert each[0] > 0.5 and each[1] < AP_CONF, each
    expected = sum(c + 0.1 * math.log(max(c, AP_CONF)) for c in each) / 2
    assert abs(with_log - expected) < 1e-5, (with_log, expected, each)


def test_detector_goals_judge_each_instance_as_evaluation_counts_it(yolov5n_path):
    # Evaluation's goal rates rest on these rules: mislabel counts a person whose best matching box (IoU >= 0.5,
    # confidence >= 0.25) is the goal class; appear counts a patch with a goal-class detection centred on it.
    from patchgen.config import RunConfig
    from patchgen.goals.appear import Appear
    from patchgen.goals.mislabel import Mislabel
    from patchgen.placements.base import Placed

    victim = load_victim(yolov5n_path, imgsz=320)
    kite, stop = victim.class_id("kite"), victim.class_id("stop sign")
    people = Scenes(None, torch.tensor([[[10.0, 10, 60, 160], [100, 10, 150, 160], [200, 10, 250, 160]]]),
                    torch.ones(1, 3, dtype=torch.bool), [])
    detections = [torch.tensor([
        [12.0, 12, 60, 158, 0.70, kite], [10, 10, 60, 160, 0.60, 0],  # person 1: kite on top
        [100, 10, 150, 160, 0.80, 0], [102, 12, 150, 158, 0.50, kite],  # person 2: still a person on top
        [200, 10, 225, 60, 0.90, kite], [200, 10, 250, 160, 0.10, kite],  # person 3: no kite fits (IoU, conf)
    ])]
    mislabel = Mislabel(victim, RunConfig(goal="mislabel", goal_class="kite"))
    assert mislabel.succeeded(detections, people, None).tolist() == [True, False, False]

    # two images, one patch each at x 100..164 (a unit matrix shifted): a stop sign centred on it, or beside it
    matrix = torch.eye(3).repeat(2, 1, 1)
    matrix[:, 0, 2], matrix[:, 1, 2] = 100.0, 100.0
    placed = Placed(matrix, torch.ones(2, 1, dtype=torch.bool), 64)
    signs = [torch.tensor([[110.0, 110, 150, 150, 0.40, stop]]), torch.tensor([[10.0, 10, 50, 50, 0.90, stop]])]
    appear = Appear(victim, RunConfig(goal="appear", goal_class="stop sign"))
    assert appear.succeeded(signs, None, placed).tolist() == [True, False]
    weak = [torch.tensor([[110.0, 110, 150, 150, 0.20, stop]]), torch.tensor([[110.0, 110, 150, 150, 0.9, kite]])]
    assert appear.succeeded(weak, None, placed).tolist() == [False, False]
