"""Array outputs saved by one worker are served by every worker (``modelhub serve --workers 2``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from reliability_support import all_workers_ready, write_fake_model_file
from support import FAKE_CONFIG

pytestmark = pytest.mark.server

ARRAY_MODEL = (
    "import os\nimport numpy as np\nfrom modelhublib.model import ModelBase\n"
    "class Model(ModelBase):\n"
    "    def infer(self, input):\n"
    "        return np.full((2, 3), os.getpid(), dtype=np.int64)\n"
)


def test_every_worker_serves_every_output(start_server, fake_package) -> None:
    config = json.loads(json.dumps(FAKE_CONFIG))
    config["model"]["io"]["output"] = [{"name": "mask", "type": "mask_image", "description": "the worker's pid"}]
    package: Path = fake_package("arrays", config=config, inference=ARRAY_MODEL)
    write_fake_model_file(package)
    server = start_server(
        "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--workers", "2"
    )
    all_workers_ready(server.url)
    photo = (package / "sample_data" / "red.png").read_bytes()
    urls, makers = [], set()
    for _ in range(20):  # a new connection each time, so both workers save outputs
        answer = requests.post(
            f"{server.url}/api/predict", files={"file": ("x.png", photo)}, headers={"Connection": "close"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        urls.append(answer.json()["output"][0]["prediction"])
    for url in urls:
        for _ in range(2):  # and each file fetched twice on new connections: whichever worker answers has it
            served = requests.get(url, headers={"Connection": "close"}, timeout=10)
            assert served.status_code == 200, (url, served.text)
            makers.add(int(np.load(io.BytesIO(served.content))[0, 0]))
    assert len(makers) == 2  # outputs of both workers were saved, and each was served from either
