"""What the data plane returns: a protocol-neutral prediction and the time each stage took."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGES = ("decode", "preprocess", "queue", "inference", "postprocess")


@dataclass
class Timings:
    """Seconds spent per stage of one request (see :data:`STAGES`)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@dataclass
class Prediction:
    """The outputs of one request.

    ``outputs`` has one entry per input item, mapping each configured output name
    (``model.io.output``) to its value: :class:`~modelhub.contract.LabelScores`, a numpy
    array, or another JSON value from an original-style model.  ``raw`` holds the model's own
    output tensors for the whole batch, by tensor name, when they were asked for.
    """

    outputs: list[dict[str, Any]]
    timings: Timings
    raw: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return len(self.outputs)
