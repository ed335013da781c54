"""Each optimiser lowers its objective on a tiny real model within a small budget: a targeted 'cat' patch against
the CIFAR ResNet20, judged on one fixed draw (every training image, one set of places and transformations) that no
step trained on."""

import pytest
import torch

from patchgen import eot, registry
from patchgen.distributed import World
from patchgen.objective import Objective
from patchgen.queries import Account, BudgetSpent
from patchgen.training import Setup
from query_helpers import cat_patch, load

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BUDGET = 1000  # images shown to the victim: 12 to 27 steps of a search on batches of 8
FALL = 0.5  # nats of the cat's cross-entropy, averaged over the fixed draw: the cat's probability x 1.6 at least


def fixed_draw(setup):
    """Every training image once, with places and EOT params from a generator of their own."""
    index = torch.arange(len(setup.scenes))
    generator = torch.Generator().manual_seed(123)
    params = eot.sample(len(index) * setup.slots, generator, setup.config.eot, setup.artifact.mask.shape[-1],
                        setup.artifact.tiled)
    return index, params


@pytest.mark.parametrize("kind, settings", [
    ("random_search", {"optimizer.random_search.population": 4}),
    ("nes", {"optimizer.nes.population": 4, "optimizer.nes.lr": 0.5}),
    ("differential_evolution", {"optimizer.differential_evolution.population": 8}),
])
def test_a_query_optimiser_lowers_the_loss_within_its_budget(resnet20_path, cifar_three_classes, kind, settings):
    config = load(cat_patch(resnet20_path, cifar_three_classes, **{"optimizer.kind": kind, "train.steps": 200},
                            **settings))
    setup = Setup(config, quiet=True)
    account = Account(setup.victim, BUDGET, config.query.batch)  # no log: the test holds the run in memory
    objective = Objective(setup, World(), account)
    optimizer = registry.get("optimizer", kind)(getattr(config.optimizer, kind), objective, config.train.seed)
    before = objective.vector()
    steps = 0
    with pytest.raises(BudgetSpent):  # the budget ends the search, long before train.steps
        for step in range(config.train.steps):
            optimizer.step(objective, step, config.train.steps)
            steps += 1
    assert steps >= 5 and account.spent <= BUDGET
    # judged white-box on the fixed draw: the victim's own logits, no query counted
    losses = Objective(setup, World()).losses(fixed_draw(setup), torch.stack([before, objective.vector()]))
    assert losses[1] < losses[0] - FALL, (kind, steps, losses.tolist())


def test_adam_the_white_box_reference_lowers_the_same_loss(resnet20_path, cifar_three_classes):
    config = load(cat_patch(resnet20_path, cifar_three_classes, **{"optimizer.adam.lr": 0.3, "train.steps": 20}))
    setup = Setup(config, quiet=True)
    objective = Objective(setup, World())
    optimizer = registry.get("optimizer", "adam")(config.optimizer.adam, objective, config.train.seed)
    before = objective.vector()
    for step in range(config.train.steps):
        optimizer.step(objective, step, config.train.steps)
    losses = objective.losses(fixed_draw(setup), torch.stack([before, objective.vector()]))
    assert losses[1] < losses[0] - FALL, losses.tolist()
