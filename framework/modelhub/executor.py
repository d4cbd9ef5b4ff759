"""Runs a contributor model's ``infer``: one inference at a time per worker, bounded waits, clean errors."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from .contrib import in_package_dir, needs_package_dir
from .errors import ModelFailure, ModelHubError, NotReady

log = logging.getLogger(__name__)


class InferenceExecutor:
    """Serialises inference within a process and maps failures to :class:`ModelFailure`.

    The onnxruntime session is shared by every request thread of a worker; per-request
    state lives in the request.  Inference runs one at a time per process (each worker
    process owns a core), and a request that waits longer than ``timeout`` for its turn
    gets a 503.  Legacy models run with their package folder as working directory.
    """

    def __init__(self, model: Any, contrib_dir: Path, *, timeout: float | None, slots: int = 1) -> None:
        self.model = model
        self.contrib_dir = contrib_dir
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(slots)
        self._legacy = needs_package_dir(model)

    def infer(self, model_input: Any) -> Any:
        if not self._slots.acquire(timeout=self.timeout if self.timeout is not None else -1):
            raise NotReady(f"the server is busy: no inference slot became free within {self.timeout:g} s")
        try:
            if self._legacy:
                with in_package_dir(self.contrib_dir):
                    return self.model.infer(model_input)
            return self.model.infer(model_input)
        except ModelHubError:
            raise
        except Exception as error:
            log.exception("the model raised while predicting")
            raise ModelFailure("the model failed to process this input; the server log has the details") from error
        finally:
            self._slots.release()
