"""Queries are money: every image a query run shows its victim passes through one `Account`.

- a budget (query.budget, images) that is never exceeded: a batch that would pass it is not sent (`BudgetSpent`);
- batches of at most query.batch images per call to the victim;
- a cache of answers keyed by the exact bytes of the image queried, so no image is ever paid for twice;
- an append-only log in the run folder (queries.log) of every answer as it arrives. A resumed run reads it back
  into the cache: the steps it replays after the last checkpoint find their answers there, so a run killed at any
  moment and resumed repeats no completed query and loses none. A victim whose `query` takes `on_answer` (an HTTP
  endpoint: each answer seconds apart, and paid for) has each answer logged the moment it arrives, so a kill or a
  failure part way through a batch loses none it got; a local victim's batch is logged whole (one fsync a chunk).

Log records: sha256 of the image's float32 bytes (32 bytes), rows and columns (uint32 each), then the answer's
float32 values (a classifier's (1,C) probabilities, a detector's (n,6) detections). A record cut short by a kill is
dropped when the log is read back."""

import hashlib
import inspect
import os
import struct
from pathlib import Path

import numpy as np
import torch

HEADER = struct.Struct("<32sII")


class BudgetSpent(Exception):
    """The next batch would pass query.budget: the run ends at its last finished step."""


class Account:
    def __init__(self, victim, budget: int, batch: int, log_path: Path | None = None):
        self.victim, self.budget, self.batch = victim, int(budget), int(batch)
        self.log_path = Path(log_path) if log_path else None
        self.cache: dict[bytes, np.ndarray] = {}
        if self.log_path and self.log_path.exists():
            self.cache = read_log(self.log_path)
        self.spent = len(self.cache)  # distinct images paid for by the step the run is at
        self.prepaid: set[bytes] = set()  # logged after that step: a resume's replay reads them as it re-spends them
        self.per_answer = "on_answer" in inspect.signature(victim.query).parameters

    def resume_at(self, spent: int) -> None:
        """The run resumes from a checkpoint taken when `spent` queries were paid for: the log's answers after
        those are the replayed steps' own, counted again as each is read (free: no query is sent twice), so the
        resumed run's figures read as the uninterrupted run's."""
        self.prepaid = set(list(self.cache)[spent:])
        self.spent = min(spent, len(self.cache))

    @property
    def failures(self) -> dict:
        """The victim's failed tries by kind since this process loaded it (an HTTP endpoint's timeouts, server
        errors, dropped connections, malformed answers, 429s: each retried, none paid for); a local model has none."""
        return dict(getattr(self.victim, "failures", {}))

    def query(self, images: torch.Tensor):
        """The victim's answer for each image (victims/protocol.py), from the cache or by paying for it."""
        keys = [hashlib.sha256(image.detach().float().cpu().numpy().tobytes()).digest() for image in images]
        new = list(dict.fromkeys(k for k in keys if k not in self.cache))  # distinct, first-seen order
        replayed = self.prepaid.intersection(keys)
        if self.spent + len(self.prepaid) + len(new) > self.budget:  # what the log holds, and what it would
            raise BudgetSpent(f"{self.spent} of query.budget {self.budget} spent; the next batch needs {len(new)}")
        self.prepaid -= replayed
        self.spent += len(replayed)
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        family = self.victim.family
        for start in range(0, len(new), self.batch):
            chunk = new[start:start + self.batch]
            sent = images[[first[k] for k in chunk]]
            if self.per_answer:
                self.victim.query(sent, on_answer=lambda i, answer: self.keep([chunk[i]], [rows_of(family, answer)]))
            else:
                self.keep(chunk, [rows_of(family, a) for a in self.victim.query(sent)])
        return answer_of(family, [self.cache[k] for k in keys], images.device)

    def keep(self, keys: list[bytes], rows: list[np.ndarray]) -> None:
        """Answers paid for: logged (whole records, fsynced), cached and counted."""
        self.append(keys, rows)
        self.cache.update(zip(keys, rows))
        self.spent += len(keys)

    def append(self, keys: list[bytes], rows: list[np.ndarray]) -> None:
        if not self.log_path:
            return
        record = b"".join(HEADER.pack(k, *r.shape) + r.astype("<f4").tobytes() for k, r in zip(keys, rows))
        with open(self.log_path, "ab") as log:
            log.write(record)
            log.flush()
            os.fsync(log.fileno())


def rows_of(family: str, answer) -> np.ndarray:
    """One image's answer as a float32 (rows, columns) array: (1,C) probabilities or (n,6) detections."""
    values = answer.detach().float().cpu().numpy()
    return values.reshape(1, -1) if family == "classifier" else values.reshape(-1, 6)


def answer_of(family: str, rows: list[np.ndarray], device):
    """The protocol's answer for a batch from its images' rows."""
    if family == "classifier":
        return torch.from_numpy(np.concatenate(rows)).to(device)
    return [torch.from_numpy(r.copy()).to(device) for r in rows]


def read_log(path: Path) -> dict[bytes, np.ndarray]:
    """Every whole record of a query log; a tail cut short by a kill is dropped, and cut off the file, so the next
    append starts a whole record."""
    data = path.read_bytes()
    answers, at = {}, 0
    while at + HEADER.size <= len(data):
        key, rows, columns = HEADER.unpack_from(data, at)
        end = at + HEADER.size + 4 * rows * columns
        if end > len(data):
            break
        answers[key] = np.frombuffer(data[at + HEADER.size:end], "<f4").reshape(rows, columns).astype(np.float32)
        at = end
    if at < len(data):
        with open(path, "r+b") as log:
            log.truncate(at)
    return answers
