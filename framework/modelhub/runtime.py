"""One onnxruntime session per process, with names and batch size read from the session."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import ConfigError, InferenceTimeout, ModelFailure
from .watchdog import Watchdog

log = logging.getLogger(__name__)


class OnnxRunner:
    """Runs one ONNX model on the CPU.

    The session is built once.  The input and output names, the number of classes and
    whether the batch dimension is fixed all come from the session, never from
    assumptions about the file.  ``run`` accepts any batch size: a model with a fixed
    batch of 1 is run once per item.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        optimized_model_path: Path | None = None,
    ) -> None:
        import onnxruntime as ort  # heavy: imported when a model is loaded, not at import time

        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A spinning pool would steal the core of the other worker process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if optimized_model_path is not None:
            options.optimized_model_filepath = str(optimized_model_path)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ConfigError(f"cannot load the ONNX model {self.path.name}: {error}") from error
        self._ort = ort
        self._watchdog = Watchdog("onnxruntime-deadlines")  # stops a run that overruns its timeout
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ConfigError(f"{self.path.name}: expected one input, the model has {len(inputs)}")
        self.input_name: str = inputs[0].name
        self.input_shape = list(inputs[0].shape)
        self.output_name: str = outputs[0].name
        batch = self.input_shape[0] if self.input_shape else None
        self.fixed_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None
        last = outputs[0].shape[-1] if outputs[0].shape else None
        self.output_size: int | None = last if isinstance(last, int) else None
        log.info(
            "loaded %s: input %s %s, output %s, batch %s",
            self.path.name, self.input_name, self.input_shape, self.output_name,
            self.fixed_batch or "free",
        )

    def run(self, batch: np.ndarray, timeout: float | None = None) -> np.ndarray:
        """Logits for ``batch`` [N, ...]; a run longer than ``timeout`` seconds is stopped (504)."""
        if self.fixed_batch is not None and batch.shape[0] != self.fixed_batch:
            if self.fixed_batch != 1:
                raise ModelFailure(f"the model needs batches of exactly {self.fixed_batch}")
            return np.concatenate([self.run(batch[i : i + 1], timeout) for i in range(batch.shape[0])])
        options = self._ort.RunOptions()
        try:
            with self._watchdog.deadline(timeout, lambda: setattr(options, "terminate", True)):
                return self.session.run([self.output_name], {self.input_name: batch}, options)[0]
        except Exception as error:
            if options.terminate:
                raise InferenceTimeout(f"inference took longer than {timeout:g} s and was stopped") from None
            raise ModelFailure("the model failed to run on this input") from error
