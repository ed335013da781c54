"""Few-pixel attacks (Su et al. 2019): a `pixels` artifact over the whole input changes exactly its k pixels, and
differential evolution by queries finds k pixels that flip a real CIFAR ResNet20's label, stopping at its first
success with the answers it already paid for."""

import shutil

import torch

from patchgen import run_dir as run_files
from patchgen.artifacts import load_artifact
from patchgen.artifacts.base import Artifact
from patchgen.distributed import World
from patchgen.objective import Objective
from patchgen.queries import Account, read_log
from patchgen.training import Setup, train
from query_helpers import load

NO_EOT = {"eot.rotation_deg": 0, "eot.scale": [1, 1], "eot.translate": 0, "eot.perspective": 0, "eot.brightness": 0,
          "eot.contrast": [1, 1], "eot.noise": 0, "eot.blur_sigma": [0.001, 0.001], "eot.colour_jitter": 0}


def few_pixels(resnet20_path, data, k: int, **overrides) -> dict:
    return {"victim": f"cifar_resnet20:{resnet20_path}", "data.train": str(data), "goal": "untargeted",
            "artifact.kind": "pixels", "artifact.size": 32, "artifact.pixels": k, "artifact.init": "random",
            "placement.kind": "whole_image", "loss.weights": {"adversarial": 1, "tv": 0, "nps": 0},
            "train.batch": 1, "train.device": "cpu", **NO_EOT, **overrides}


def test_a_pixels_artifact_changes_exactly_its_pixels_and_nothing_else(resnet20_path, cifar_three_classes):
    setup = Setup(load(few_pixels(resnet20_path, cifar_three_classes, 3)), quiet=True)
    index, params = setup.draw()
    scenes = setup.scenes.batch(index)
    image = setup.render(scenes.images, setup.placement.place(scenes, params), params)[0]
    changed = (image - scenes.images[0]).abs().amax(0) > 1 / 512  # (32,32): pixels more than half a level off
    values = setup.artifact.values.detach()
    places = {(int(x * 32), int(y * 32)) for x, y in values[:, :2].tolist()}
    assert {(x, y) for y, x in changed.nonzero().tolist()} == places, "only the k pixels, at their places"
    for x, y in places:
        row = next(r for r in values if (int(r[0] * 32), int(r[1] * 32)) == (x, y))
        assert torch.allclose(image[:, y, x], (row[2:] * 255).round() / 255, atol=1e-5), "8-bit colours, exactly"


def test_differential_evolution_flips_a_label_with_few_pixels_and_stops_at_its_success(resnet20_path,
                                                                                        cifar_three_classes,
                                                                                        tmp_path):
    setup = Setup(load(few_pixels(resnet20_path, cifar_three_classes, 5)), quiet=True)
    predicted = setup.victim.predict(setup.scenes.images.float() / 255)[0]
    first_right = next(i for i, right in enumerate((predicted == setup.scenes.labels).tolist()) if right)
    image = cifar_three_classes / setup.scenes.names[first_right]  # names are relative to the folder
    data = tmp_path / "one"
    (data / image.parent.name).mkdir(parents=True)
    shutil.copy(image, data / image.parent.name / image.name)
    budget = 3000
    config = load(few_pixels(resnet20_path, data, 5, **{
        "optimizer.kind": "differential_evolution", "optimizer.differential_evolution.population": 60,
        "train.steps": 40, "train.stop_on_success": True, "query.budget": budget, "query.batch": 30}))
    run = train(config, tmp_path / "run", progress=False)

    sidecar = run_files.read_sidecar(run)
    assert sidecar["step"] < 40 and len(sidecar["pixels"]) == 5, "it stopped at its first success"
    spent = sidecar["queries"]["spent"]
    assert spent == len(read_log(run / run_files.QUERY_LOG)) <= budget
    setup = Setup(config, quiet=True)
    setup.artifact = load_artifact(run).to(setup.device)
    assert Objective(setup, World(), Account(setup.victim, budget, 30)).fooled(), "the saved pixels fool it"



def test_candidates_scored_at_once_look_as_each_does_alone(resnet20_path, cifar_three_classes):
    """A search renders its whole population in one go (one scatter for a pixels artifact): every candidate looks
    as it does when put in place alone, as the one-at-a-time way of other kinds makes it, and the artifact keeps
    its own values."""
    setup = Setup(load(few_pixels(resnet20_path, cifar_three_classes, 3)), quiet=True)
    objective = Objective(setup, World())
    index, params = setup.draw()
    scenes = setup.scenes.batch(index)
    placed = setup.placement.place(scenes, params)
    own = objective.vector()
    candidates = torch.rand(7, len(own), generator=torch.Generator().manual_seed(3))
    candidates[4] = candidates[2]
    candidates[5, 5:10] = candidates[5, :5]  # two pixels at one place
    together = objective.rendered(scenes, placed, params, candidates)
    values = [objective.view(candidates, 0)]
    one_at_a_time = Artifact.appearances(setup.artifact, values, params)
    assert all(torch.equal(a, b) for a, b in zip(one_at_a_time, setup.artifact.appearances(values, params)))
    assert torch.equal(objective.vector(), own), "the artifact is left as it was"
    for i, candidate in enumerate(candidates):
        objective.assign(candidate)
        alone = setup.render(scenes.images, placed, params)
        assert torch.equal(together[i:i + 1], alone), f"candidate {i}"
