"""The Open Inference Protocol view of one data plane: its tensors, its Triton config, its inference.

The tensors are the model's own (read from the onnxruntime session), plus an input of encoded images
(``image``, BYTES, one photo per element, decoded and preprocessed by the engine exactly as for
``/api/predict``) and one FP32 output per configured ``label_list`` output (``probabilities``: the
softmax the ModelHub routes return).  Inference goes through the data plane: ``infer`` for images,
``infer_tensors`` for the model's input tensors; nothing here runs the model itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelhub.contract import FREE, LabelScores, ModelMetadata, TensorSpec
from modelhub.dataplane import DataPlane
from modelhub.errors import BadRequest, NotFound
from modelhub.prediction import Prediction
from modelhub.slots import Deadline

from .oip_codec import InferRequest, RequestedOutput, Tensor

IMAGE_INPUT = "image"
VERSION = "1"
PLATFORM = "onnxruntime_onnx"
CONFIG_TYPES = {"BYTES": "TYPE_STRING"}  # Triton's config names; the others are "TYPE_" + datatype


class OipModel:
    """The data plane's model as the Open Inference Protocol describes and runs it."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.name = plane.config.name
        metadata = plane.metadata()
        if metadata is None:
            raise NotFound(
                f"model {self.name!r} has no tensor contract, so it is not served over the Open "
                "Inference Protocol; use POST /api/predict"
            )
        self.tensor_meta: ModelMetadata = metadata
        first = metadata.inputs[0].shape if metadata.inputs else ()
        batch = first[0] if first else FREE
        classes = metadata.outputs[0].shape[-1] if metadata.outputs and metadata.outputs[0].shape else FREE
        own = {spec.name for spec in (*metadata.inputs, *metadata.outputs)}
        labels = [spec.name for spec in plane.config.outputs if spec.type == "label_list" and spec.name not in own]
        self.label_outputs = tuple(TensorSpec(name, "FP32", (batch, classes)) for name in labels)
        self.inputs = (*metadata.inputs, TensorSpec(IMAGE_INPUT, "BYTES", (batch,)))
        self.outputs = (*metadata.outputs, *self.label_outputs)
        self.max_batch_size = metadata.max_batch_size

    def check(self, name: str, version: str | None) -> None:
        if name != self.name:
            raise NotFound(f"no model {name!r}: this server serves {self.name!r}")
        if version not in (None, "", VERSION):
            raise NotFound(f"model {name!r} has no version {version!r}; its versions are [{VERSION!r}]")

    # -- description ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [VERSION],
            "platform": PLATFORM,
            "inputs": [_spec(spec) for spec in self.inputs],
            "outputs": [_spec(spec) for spec in self.outputs],
        }

    def config(self) -> dict[str, Any]:
        """Triton's model configuration JSON; with ``max_batch_size > 0`` dims leave out the batch axis."""
        batched = self.max_batch_size > 0

        def entry(spec: TensorSpec) -> dict[str, Any]:
            dims = list(spec.shape[1:] if batched else spec.shape)
            value: dict[str, Any] = {
                "name": spec.name,
                "data_type": CONFIG_TYPES.get(spec.datatype, f"TYPE_{spec.datatype}"),
            }
            if not dims:  # a tensor of the batch axis alone: Triton writes dims [1] reshaped to []
                return {**value, "dims": [1], "reshape": {"shape": []}}
            return {**value, "dims": dims}

        return {
            "name": self.name,
            "platform": PLATFORM,
            "backend": "onnxruntime",
            "max_batch_size": self.max_batch_size,
            "version_policy": {"latest": {"num_versions": 1}},
            "input": [entry(spec) for spec in self.inputs],
            "output": [entry(spec) for spec in self.outputs],
        }

    # -- inference -----------------------------------------------------------------------
    def infer(self, request: InferRequest, deadline: Deadline | None) -> list[Tensor]:
        wanted = self._requested(request.outputs, request.binary_output)
        names = [tensor.name for tensor in request.inputs]
        if IMAGE_INPUT in names:
            if len(names) != 1:
                raise BadRequest(
                    f"send either the {IMAGE_INPUT!r} input (encoded images) or the model's tensor "
                    f"inputs {[s.name for s in self.tensor_meta.inputs]}, not both"
                )
            images = self._images(request.inputs[0])
            prediction = self.plane.infer(images, deadline=deadline, raw=True)
        else:
            prediction = self.plane.infer_tensors(self._tensors(request.inputs), deadline=deadline)
        return [self._output(prediction, spec, asked) for spec, asked in wanted]

    def _requested(
        self, outputs: list[RequestedOutput] | None, binary: bool
    ) -> list[tuple[TensorSpec, RequestedOutput]]:
        specs = {spec.name: spec for spec in self.outputs}
        if outputs is None:
            return [(spec, RequestedOutput(spec.name, binary)) for spec in self.outputs]
        for asked in outputs:
            if asked.name not in specs:
                raise BadRequest(f"model {self.name!r} has no output {asked.name!r}; its outputs are {list(specs)}")
        return [(specs[asked.name], asked) for asked in outputs]

    def _batch(self, name: str, size: int) -> None:
        if size < 1:
            raise BadRequest(f"input {name!r}: the batch is empty")
        if size > max(self.max_batch_size, 1):
            raise BadRequest(
                f"input {name!r}: a batch of {size} is larger than model {self.name!r}'s "
                f"max_batch_size of {self.max_batch_size}"
            )

    def _images(self, tensor: Tensor) -> list[bytes]:
        if tensor.datatype != "BYTES" or not isinstance(tensor.data, list):
            raise BadRequest(
                f"input {IMAGE_INPUT!r} must be BYTES (one encoded JPEG or PNG per element), not {tensor.datatype}"
            )
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise BadRequest(f"input {IMAGE_INPUT!r} must have shape [N] or [N, 1], not {tensor.shape}")
        self._batch(IMAGE_INPUT, tensor.shape[0])
        return tensor.data

    def _tensors(self, inputs: Sequence[Tensor]) -> dict[str, np.ndarray]:
        specs = {spec.name: spec for spec in self.tensor_meta.inputs}
        given = {tensor.name: tensor for tensor in inputs}
        if len(given) != len(inputs) or set(given) != set(specs):
            raise BadRequest(
                f"model {self.name!r} takes the inputs {list(specs)} (or {IMAGE_INPUT!r}: encoded "
                f"images), got {[tensor.name for tensor in inputs]}"
            )
        arrays = {}
        for name, spec in specs.items():
            tensor = given[name]
            if tensor.datatype != spec.datatype or not isinstance(tensor.data, np.ndarray):
                raise BadRequest(f"input {name!r} must be {spec.datatype}, not {tensor.datatype}")
            shape = tensor.shape
            if len(shape) != len(spec.shape):
                raise BadRequest(f"input {name!r} must have shape {_shape(spec.shape)}, not {shape}")
            self._batch(name, shape[0])
            if any(want not in (FREE, got) for want, got in zip(spec.shape[1:], shape[1:], strict=True)):
                raise BadRequest(f"input {name!r} must have shape {_shape(spec.shape)}, not {shape}")
            arrays[name] = tensor.data.reshape(shape)
        if len({array.shape[0] for array in arrays.values()}) > 1:
            raise BadRequest("the inputs' batch sizes differ")
        return arrays

    def _output(self, prediction: Prediction, spec: TensorSpec, asked: RequestedOutput) -> Tensor:
        labels: Sequence[str] | None = None
        if spec in self.label_outputs:
            values = [item[spec.name] for item in prediction.outputs]
            array = np.stack([value.scores for value in values]).astype(np.float32)
            labels = values[0].labels if isinstance(values[0], LabelScores) else None
        else:
            array = prediction.raw[spec.name]
            labels = self._labels(prediction)
        if asked.classification:
            elements, shape = classify(array, asked.classification, labels)
            return Tensor(spec.name, "BYTES", shape, elements, asked.binary)
        return Tensor(spec.name, spec.datatype, list(array.shape), array, asked.binary)

    @staticmethod
    def _labels(prediction: Prediction) -> Sequence[str] | None:
        """The class names, from the first label list of the prediction (the model's classes)."""
        for value in prediction.outputs[0].values():
            if isinstance(value, LabelScores):
                return value.labels
        return None


def classify(scores: np.ndarray, k: int, labels: Sequence[str] | None = None) -> tuple[list[bytes], list[int]]:
    """Triton's classification: the top ``k`` along the last axis as ``"score:index:label"``, most probable
    first (ties keep class order); returns the elements and the shape (the last axis becomes ``k``)."""
    matrix = np.asarray(scores).reshape(-1, scores.shape[-1] if scores.ndim else 1)
    k = min(k, matrix.shape[1])
    names = labels if labels is not None and len(labels) == matrix.shape[1] else None
    elements = [
        f"{float(row[i]):f}:{int(i)}{'' if names is None else ':' + names[i]}".encode()
        for row in matrix
        for i in np.argsort(-row, kind="stable")[:k]
    ]
    return elements, [*scores.shape[:-1], k]


def _shape(shape: Sequence[int]) -> list[int | str]:
    return ["N" if dim == FREE else dim for dim in shape]


def _spec(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}
