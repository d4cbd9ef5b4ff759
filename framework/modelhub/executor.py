"""Runs a contributor model's ``infer``: one inference at a time per worker, bounded waits, clean errors."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from pathlib import Path
from typing import Any

from .contrib import in_package_dir, needs_package_dir
from .errors import InferenceTimeout, ModelFailure, ModelHubError, NotReady

log = logging.getLogger(__name__)


class InferenceExecutor:
    """Serialises inference within a process and maps failures to :class:`ModelFailure`.

    The onnxruntime session is shared by every request thread of a worker; per-request
    state lives in the request.  Inference runs one at a time per process (each worker
    process owns a core), and a request that waits longer than ``timeout`` for its turn
    gets a 503; one whose inference overruns ``timeout`` gets a 504.  Legacy models run with
    their package folder as working directory.
    """

    def __init__(self, model: Any, contrib_dir: Path, *, timeout: float | None, slots: int = 1) -> None:
        self.model = model
        self.contrib_dir = contrib_dir
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(slots)
        self._legacy = needs_package_dir(model)
        # The model runs in these threads so that a request can be answered (504) when it overruns
        # ``timeout``; the overrunning call keeps its slot until it really ends, so the session is
        # never entered by more calls than there are slots.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=slots, thread_name_prefix="inference")

    def infer(self, model_input: Any) -> Any:
        if not self._slots.acquire(timeout=self.timeout if self.timeout is not None else -1):
            raise NotReady(f"the server is busy: no inference slot became free within {self.timeout:g} s")
        try:
            future = self._pool.submit(self._call, model_input)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _done: self._slots.release())
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            log.error("inference overran the request timeout of %g s; answered 504 (the call finishes in the "
                      "background and holds the inference slot until then)", self.timeout)
            raise InferenceTimeout(f"inference took longer than {self.timeout:g} s and was abandoned") from None

    def _call(self, model_input: Any) -> Any:
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
