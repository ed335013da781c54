import numpy as np

from patchgen.average_precision import average_precision, recall_at

REF = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]


def det(*rows):
    return [np.array(rows, float).reshape(-1, 5)]


def test_perfect_detections_give_ap_one():
    assert average_precision(det([0, 0, 10, 10, 0.9], [20, 20, 30, 30, 0.8]), REF) == 1.0


def test_one_of_two_found_gives_half():
    assert abs(average_precision(det([0, 0, 10, 10, 0.9]), REF) - 0.5) < 1e-9


def test_a_confident_false_positive_lowers_ap():
    ap = average_precision(det([50, 50, 60, 60, 0.99], [0, 0, 10, 10, 0.9], [20, 20, 30, 30, 0.8]), REF)
    assert abs(ap - 2 / 3) < 1e-9  # precision envelope: 2/3 at every recall level


def test_duplicates_count_once_and_recall_respects_the_threshold():
    dets = det([0, 0, 10, 10, 0.9], [0, 0, 10, 10, 0.85], [20, 20, 30, 30, 0.1])
    assert recall_at(dets, REF, conf=0.25) == 0.5
    assert recall_at(dets, REF, conf=0.05) == 1.0
    assert average_precision(det(), REF) == 0.0
