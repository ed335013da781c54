"""A query run over torchrun processes (CPU, gloo): every rank scores every candidate on its own share of the batch
and the scores are averaged over ranks, so two ranks keep the candidates one process keeps when it scores each on
the union of their batches; each rank logs the queries it made."""

import subprocess
import sys

import torch

from patchgen.artifacts import load_artifact
from patchgen.config import load_config
from patchgen.distributed import World
from patchgen.objective import Objective
from patchgen.optimizers.random_search import RandomSearch
from patchgen.queries import Account, read_log
from patchgen.training import Setup

STEPS, BATCH = 5, 4


class BothRanks:
    """One process standing in for two ranks: the candidates scored on each rank's own draw, averaged."""

    def __init__(self, objectives):
        self.objectives = objectives
        first = objectives[0]
        self.parameters, self.bounds = first.parameters, first.bounds
        self.vector, self.assign, self.propose = first.vector, first.assign, first.propose
        self.succeeded_at = None  # a run that stops at its first success is one process

    def draw(self):
        return [objective.draw() for objective in self.objectives]

    def losses(self, draws, candidates, until_success=False):
        return sum(o.losses(d, candidates) for o, d in zip(self.objectives, draws)) / len(self.objectives)


def test_two_ranks_keep_the_candidates_one_process_keeps_on_their_global_batch(resnet20_path, cifar_three_classes,
                                                                               tmp_path):
    config_file = tmp_path / "config.yaml"
    config_file.write_text("\n".join([
        f"victim: cifar_resnet20:{resnet20_path}", f"data: {{train: {cifar_three_classes}}}", "goal: targeted",
        "goal_class: cat", "artifact: {size: 8, init: random}", "placement: {area: 0.1}",
        "optimizer: {kind: random_search, random_search: {population: 3}}",
        f"train: {{steps: {STEPS}, batch: {BATCH}, checkpoint_every: 2, log_every: 1}}",
        "query: {budget: 10000, batch: 16}"]) + "\n")
    run = tmp_path / "ddp"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "patchgen", "train", str(config_file), "--out", str(run), "--quiet", "--no-eval"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    config = load_config(config_file)
    ranks = [Setup(config, quiet=True, rank=r, ranks=2) for r in (0, 1)]
    ranks[1].artifact = ranks[0].artifact
    objectives = [Objective(s, World(), Account(s.victim, config.query.budget, config.query.batch)) for s in ranks]
    both = BothRanks(objectives)
    search = RandomSearch(config.optimizer.random_search, both, config.train.seed)
    start = both.vector()
    for step in range(STEPS):
        search.step(both, step, STEPS)
    assert search.accepted, "some candidate must be kept for the comparison to mean anything"
    assert not torch.equal(both.vector(), start)
    assert torch.allclose(load_artifact(run).logits, ranks[0].artifact.logits, atol=1e-6)
    logs = [read_log(run / "queries.log"), read_log(run / "queries.1.log")]
    assert all(len(log) == account.spent for log, account in zip(logs, (o.account for o in objectives)))
