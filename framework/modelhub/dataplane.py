"""The data plane: what every protocol calls to describe the model and to run it.

``infer`` takes the caller's inputs (file paths, bytes, opened images, multi-input requests) and
``infer_tensors`` the model's own input tensors; both return a protocol-neutral
:class:`~modelhub.prediction.Prediction`.  The request's :class:`~modelhub.slots.Deadline` covers
every stage; decoding and preprocessing run in the caller's thread, only the model call takes an
inference slot.  Protocols (ModelHub JSON, Open Inference Protocol) are codecs over this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from .config import ModelConfig
from .contract import ModelMetadata, implements_contract, stack
from .errors import BadRequest, ConfigError, ModelFailure, ModelHubError, PayloadTooLarge
from .images import keep_image_memory
from .inputs import Scratch, decoded_image, prepare
from .legacy import LegacyModel, outputs_of
from .model_source import ModelSource
from .package import PackageFiles
from .prediction import Prediction, Timings
from .settings import Settings
from .slots import Deadline, InferenceSlots

log = logging.getLogger(__name__)

T = TypeVar("T")
FAILED = "the model failed to process this input; the server log has the details"


class DataPlane:
    """One loaded model: its description, its inference slot and its pipeline."""

    def __init__(
        self, model: Any, package_dir: Path, config: ModelConfig, settings: Settings, source: ModelSource | None = None
    ) -> None:
        self.model = model
        self.package_dir = Path(package_dir).resolve()
        self.config = config
        self.settings = settings
        self.source = source
        self.files = PackageFiles(self.package_dir, settings.root / "framework")
        self.legacy = None if implements_contract(model) else LegacyModel(model, self.package_dir)
        self._slots = InferenceSlots(slots=1)
        # Called with every Prediction that infer/infer_tensors return (metrics register here); a failing
        # observer is logged and never fails the request.  load_seconds/warmup_seconds: set by host.load.
        self.observers: list[Callable[[Prediction], None]] = []
        self.load_seconds: float | None = None
        self.warmup_seconds: float | None = None
        self.reproduced: bool | None = None  # the golden check at warm-up (modelhub.reproduction); None: no golden
        if Image.MAX_IMAGE_PIXELS is not None and settings.max_image_pixels > Image.MAX_IMAGE_PIXELS:
            # Our limit is checked from the header first; Pillow's own bomb guard must not be stricter.
            Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
        keep_image_memory()

    # -- description ---------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return True  # a data plane exists only once its model is loaded and warmed up

    def metadata(self) -> ModelMetadata | None:
        """The model's tensors; ``None`` for an original-style model, which has no tensor contract."""
        return None if self.legacy is not None else self.model.metadata()

    # -- inference -----------------------------------------------------------------------
    def deadline(self) -> Deadline:
        return Deadline(self.settings.request_timeout)

    def infer(self, inputs: Sequence[Any], *, deadline: Deadline | None = None, raw: bool = False) -> Prediction:
        """Predict on each input: one batch through a batch-contract model, one call each otherwise."""
        return self._observed(self._infer(inputs, deadline, raw))

    def _infer(self, inputs: Sequence[Any], deadline: Deadline | None, raw: bool) -> Prediction:
        if not inputs:
            raise BadRequest("no input to predict on")
        deadline = deadline or self.deadline()
        timings = Timings()
        if self.legacy is not None:
            return Prediction([self._legacy_one(item, deadline, timings) for item in inputs], timings)
        items = []
        for source in inputs:
            with timings.stage("decode"):
                image = decoded_image(source, self.config, self.settings)
            with timings.stage("preprocess"):
                items.append(self._preprocess(image))
        size = max(self.model.metadata().max_batch_size, 1)
        parts = [self._run(stack(items[i : i + size]), deadline, timings, raw) for i in range(0, len(items), size)]
        if len(parts) == 1:
            return parts[0]
        joined = {name: np.concatenate([part.raw[name] for part in parts]) for name in parts[0].raw}
        return Prediction([item for part in parts for item in part.outputs], timings, joined)

    def infer_tensors(
        self, tensors: Mapping[str, np.ndarray], *, deadline: Deadline | None = None, raw: bool = True
    ) -> Prediction:
        """Predict on the model's own (already preprocessed) input tensors ``[N, ...]``."""
        metadata = self.metadata()
        if metadata is None:
            raise BadRequest("this model takes files, not tensors: it has no tensor contract")
        expected = {spec.name: spec for spec in metadata.inputs}
        if set(tensors) != set(expected):
            raise BadRequest(f"the model's inputs are {sorted(expected)}, got {sorted(tensors)}")
        return self._observed(self._run(dict(tensors), deadline or self.deadline(), Timings(), raw))

    def _observed(self, prediction: Prediction) -> Prediction:
        for observer in self.observers:
            try:
                observer(prediction)
            except Exception:
                log.exception("a prediction observer failed")
        return prediction

    def _run(self, batch: dict[str, np.ndarray], deadline: Deadline, timings: Timings, raw: bool) -> Prediction:
        metadata = self.model.metadata()
        size = len(next(iter(batch.values())))
        if size > max(metadata.max_batch_size, 1):
            raise BadRequest(f"a batch of {size} is larger than this model's maximum of {metadata.max_batch_size}")
        outputs, queued, ran = self._slots.run(lambda: self._guard(lambda: self.model.predict(batch)), deadline)
        timings.add("queue", queued)
        timings.add("inference", ran)
        with timings.stage("postprocess"):
            items = self._guard(lambda: self.model.postprocess(outputs))
        if len(items) != size:
            raise ModelFailure(f"the model returned {len(items)} results for a batch of {size}")
        return Prediction(items, timings, dict(outputs) if raw else {})

    def preprocess(self, image: Image.Image) -> dict[str, np.ndarray]:
        """One decoded image as the model's input tensors (the model's ``preprocess``, guarded)."""
        return self._preprocess(image)

    def _preprocess(self, image: Image.Image) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = self._guard(lambda: self.model.preprocess(image))
        return result

    def _legacy_one(self, source: Any, deadline: Deadline, timings: Timings) -> dict[str, Any]:
        legacy = self.legacy
        assert legacy is not None
        with Scratch() as scratch:  # a folder exists only if the model needs a file
            with timings.stage("decode"):
                model_input = prepare(source, self.config, self.settings, legacy.in_memory, scratch)
            result, queued, ran = self._slots.run(lambda: self._guard(lambda: legacy.infer(model_input)), deadline)
        timings.add("queue", queued)
        timings.add("inference", ran)
        with timings.stage("postprocess"):
            return outputs_of(result, self.config.outputs)

    @staticmethod
    def _guard(call: Callable[[], T]) -> T:
        """Contributor code's own exceptions become a 500 that hides internals; ours pass as they are."""
        try:
            return call()
        except ModelHubError:
            raise
        except Exception as error:
            log.exception("the model raised while predicting")
            raise ModelFailure(FAILED) from error

    guard = _guard  # for the engine's other users of the model (modelhub.explain)

    # -- lifecycle -----------------------------------------------------------------------
    def warm_up(self) -> None:
        """One prediction on the first sample, so the first user request is not the slow one."""
        sample = self.files.warm_up_sample(self.config.multi_input)
        if sample is None:
            log.info("no sample image to warm up with")
            return
        where = f"the warm-up prediction on the sample {sample.parent.name}/{sample.name} failed"
        try:
            self.infer([sample])
        except ModelFailure as error:  # no request here: name the model's exception (its text may be internal)
            if error.__cause__ is None:
                raise ConfigError(f"{where}: {error.message}") from error
            raise ConfigError(
                f"{where}: the model raised {type(error.__cause__).__name__} (its traceback is logged above)"
            ) from error
        except ModelHubError as error:
            hint = " (MODELHUB_MAX_IMAGE_PIXELS)" if isinstance(error, PayloadTooLarge) else ""
            raise ConfigError(f"{where}: {error.message}{hint}") from error
