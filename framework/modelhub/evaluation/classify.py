"""Classifiers of encoded images: the in-process data plane, or a server's ModelHub or OIP route.

Each returns the probability of every class for the bytes of one image file, exactly as a client of
``/api/predict`` would get them: the local one calls :meth:`DataPlane.infer` with the file's bytes (what the
route does with an upload), the remote ones send the file over HTTP.  :func:`describe` tells the model file
evaluated (name, sha256, variant) and the software.
"""

from __future__ import annotations

import base64
import http.client
import json
import platform
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from modelhub.contract import LabelScores
from modelhub.errors import ModelHubError
from modelhub.settings import Settings

from . import classes

PROTOCOLS = ("modelhub", "oip")
TIMEOUT = 60.0


class EvaluationError(ModelHubError):
    """The evaluation cannot go on (the server is unreachable or failing): the run stops, resumable."""

    status = 502


class ImageRejected(ModelHubError):
    """This image could not be classified (bad file, 4xx): recorded as a miss, the run goes on."""

    status = 400


@dataclass(frozen=True)
class Target:
    """What to evaluate: the local pipeline of ``settings``, or the server at ``url`` over ``protocol``."""

    settings: Settings
    url: str | None = None
    protocol: str = "modelhub"


class LocalClassifier:
    def __init__(self, settings: Settings) -> None:
        from modelhub.host import load

        self.plane = load(settings)
        self.output = next(spec.name for spec in self.plane.config.outputs if spec.type == "label_list")

    def __call__(self, data: bytes) -> np.ndarray:
        try:
            prediction = self.plane.infer([data])
        except ModelHubError as error:
            if error.status >= 500:
                raise
            raise ImageRejected(error.message) from None
        value = prediction.outputs[0][self.output]
        assert isinstance(value, LabelScores)
        return np.asarray(value.scores, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        source = self.plane.source.as_dict() if self.plane.source else {}
        source.pop("path", None)
        return {
            "where": "in-process data plane (the pipeline of /api/predict)",
            "model_file": source,
            "model_name": self.plane.config.name,
        }


class RemoteClassifier:
    def __init__(self, url: str, protocol: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise EvaluationError(f"--url must be an http:// or https:// address, not {url!r}")
        self.base = url.rstrip("/")
        self.protocol = protocol
        try:
            self.config = json.loads(self._send("GET", "/api/get_config"))
            meta = self.config.get("meta") or {}
        except (ValueError, AttributeError):
            raise EvaluationError(f"{self.base}/api/get_config is not a ModelHub model's config") from None
        self.name = str(meta.get("name") or "model")
        try:
            self.server = json.loads(self._send("GET", "/v2"))  # the OIP server metadata: name, version
        except (ModelHubError, ValueError):
            self.server = None

    def _send(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                message = str(json.loads(text).get("error", text))
            except (ValueError, AttributeError):
                message = text[:200]
            if 400 <= error.code < 500 and error.code not in (404, 405, 408, 429):
                raise ImageRejected(f"HTTP {error.code}: {message}") from None
            raise EvaluationError(f"{method} {self.base}{path}: HTTP {error.code}: {message}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise EvaluationError(f"cannot reach {self.base}{path}: {reason}") from None

    def __call__(self, data: bytes) -> np.ndarray:
        try:
            probabilities = self._oip(data) if self.protocol == "oip" else self._modelhub(data)
        except (ValueError, KeyError, TypeError, StopIteration) as error:
            raise EvaluationError(f"{self.base} answered something that is not a prediction: {error!r}") from None
        if probabilities.shape != (classes.CLASSES,):
            raise EvaluationError(f"{self.base} answered {probabilities.size} probabilities, not {classes.CLASSES}")
        return probabilities

    def _modelhub(self, data: bytes) -> np.ndarray:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="image"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        answer = json.loads(self._send("POST", "/api/predict", body, f"multipart/form-data; boundary={boundary}"))
        output = next(o for o in answer["output"] if o["type"] == "label_list")
        return np.array([entry["probability"] for entry in output["prediction"]], dtype=np.float64)

    def _oip(self, data: bytes) -> np.ndarray:
        request = {
            "inputs": [
                {"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(data).decode("ascii")]}
            ],
            "outputs": [{"name": "probabilities"}],
        }
        answer = json.loads(
            self._send("POST", f"/v2/models/{self.name}/infer", json.dumps(request).encode(), "application/json")
        )
        output = next(o for o in answer["outputs"] if o["name"] == "probabilities")
        return np.array(output["data"], dtype=np.float64).reshape(-1)

    def describe(self) -> dict[str, Any]:
        route = "/api/predict" if self.protocol == "modelhub" else f"/v2/models/{self.name}/infer"
        return {
            "where": f"server {self.base}{route}",
            "model_file": (self.config.get("model") or {}).get("file", {}),
            "model_name": self.name,
            "server": self.server,
        }


def build(target: Target) -> LocalClassifier | RemoteClassifier:
    if target.url:
        if target.protocol not in PROTOCOLS:
            raise EvaluationError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not {target.protocol!r}")
        return RemoteClassifier(target.url, target.protocol)
    return LocalClassifier(target.settings)


def software() -> dict[str, str]:
    found = {"python": platform.python_version(), classes.SOURCE: classes.package_version()}
    for name in ("modelhub-mobilenetv2", "onnxruntime", "numpy", "pillow"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
