"""The Open Inference Protocol (v2, REST) response body: named output tensors as JSON, binary data after it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from .oip_codec import DTYPES, Tensor, encode_bytes_elements


def encode_infer_response(
    model_name: str, model_version: str, request_id: str | None, outputs: Sequence[Tensor]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it (else None)."""
    entries, chunks = [], []
    for tensor in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        if tensor.binary:  # BYTES: length-prefixed elements; numbers: little-endian, row-major
            raw = (
                encode_bytes_elements(tensor.data)
                if isinstance(tensor.data, list)
                else np.ascontiguousarray(tensor.data, dtype=DTYPES[tensor.datatype]).tobytes()
            )
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif isinstance(tensor.data, list):
            entry["data"] = [element.decode("utf-8", errors="replace") for element in tensor.data]
        else:
            entry["data"] = np.ascontiguousarray(tensor.data).reshape(-1)
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    response.update({"id": request_id} if request_id is not None else {}, outputs=entries)
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    return (b"".join([header, *chunks]), len(header)) if chunks else (header, None)
