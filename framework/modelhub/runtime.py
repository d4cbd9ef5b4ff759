"""One onnxruntime session per process, its tensors read from the session, runs that can be stopped."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .contract import FREE, ModelMetadata, TensorSpec
from .errors import ConfigError, InferenceTimeout, ModelFailure
from .slots import on_cancel

log = logging.getLogger(__name__)

# onnxruntime's element types as Open Inference Protocol datatypes.
DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(bfloat16)": "BF16",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}


def _spec(arg: object) -> TensorSpec:
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else FREE for dim in getattr(arg, "shape", None) or ())
    return TensorSpec(str(getattr(arg, "name", "")), DATATYPES.get(str(getattr(arg, "type", "")), "BYTES"), shape)


class OnnxSession:
    """Runs one ONNX model on the CPU.

    The session is built once.  Input and output names, shapes, datatypes and whether the batch
    dimension is fixed all come from the session, never from assumptions about the file.  ``run``
    accepts any batch size: a model with a fixed batch of 1 is run once per item.  A run whose
    caller gives up (:mod:`modelhub.slots`) is stopped through ``RunOptions.terminate``.
    """

    def __init__(self, path: Path | str, *, intra_op_threads: int = 1, inter_op_threads: int = 1) -> None:
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
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ConfigError(f"cannot load the ONNX model {self.path.name}: {error}") from error
        self._ort = ort
        self.inputs = tuple(_spec(arg) for arg in self.session.get_inputs())
        self.outputs = tuple(_spec(arg) for arg in self.session.get_outputs())
        self.output_names = [spec.name for spec in self.outputs]
        batch = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else FREE
        self.fixed_batch: int | None = batch if batch != FREE else None
        log.info(
            "loaded %s: inputs %s, outputs %s, batch %s",
            self.path.name,
            [(s.name, s.shape) for s in self.inputs],
            [(s.name, s.shape) for s in self.outputs],
            self.fixed_batch or "free",
        )

    def metadata(self, max_batch_size: int) -> ModelMetadata:
        """The session's tensors; the batch limit is the fixed batch, else ``max_batch_size``."""
        return ModelMetadata(self.inputs, self.outputs, self.fixed_batch or max_batch_size)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output for the batch ``feeds`` (arrays ``[N, ...]`` by input name)."""
        size = len(next(iter(feeds.values())))
        if self.fixed_batch is not None and size != self.fixed_batch:
            if self.fixed_batch != 1:
                raise ModelFailure(f"the model needs batches of exactly {self.fixed_batch}")
            parts = [self.run({name: array[i : i + 1] for name, array in feeds.items()}) for i in range(size)]
            return {name: np.concatenate([part[name] for part in parts]) for name in self.output_names}
        options = self._ort.RunOptions()
        unregister = on_cancel(lambda: setattr(options, "terminate", True))
        try:
            values = self.session.run(self.output_names, dict(feeds), options)
        except Exception as error:
            if options.terminate:
                raise InferenceTimeout("inference took too long and was stopped") from None
            raise ModelFailure("the model failed to run on this input") from error
        finally:
            unregister()
        return dict(zip(self.output_names, values, strict=True))
