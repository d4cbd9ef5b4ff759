"""The Open Inference Protocol (v2, REST) codec: pure functions from request bodies to tensors and back.

A body is a JSON header, optionally followed by binary tensor data (the ``binary_tensor_data``
extension): the ``Inference-Header-Content-Length`` header gives the JSON's length; each input with
``parameters.binary_data_size`` takes that many of the following bytes, in input order.  Numbers
travel little-endian, row-major; ``BYTES`` elements each after their 4-byte little-endian length.
In JSON, ``data`` is a flat (or nested) row-major list; a ``BYTES`` element is a base64 string
(binary content such as an encoded image), or plain text if it is not valid base64 or the input's
``parameters.content_type`` is ``"str"``.  Errors are :class:`~modelhub.errors.BadRequest` (400).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelhub.errors import BadRequest

HEADER_LENGTH = "Inference-Header-Content-Length"
DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in (
        ("BOOL", "?"),
        ("UINT8", "u1"),
        ("UINT16", "<u2"),
        ("UINT32", "<u4"),
        ("UINT64", "<u8"),
        ("INT8", "i1"),
        ("INT16", "<i2"),
        ("INT32", "<i4"),
        ("INT64", "<i8"),
        ("FP16", "<f2"),
        ("FP32", "<f4"),
        ("FP64", "<f8"),
    )
}
DATATYPES = (*DTYPES, "BYTES")
_LENGTH = struct.Struct("<I")

Data = np.ndarray | list[bytes]  # a numeric tensor, or the elements of a BYTES tensor (row-major)


@dataclass
class Tensor:
    """One input or output tensor; ``binary`` (outputs) asks for the binary form in the response."""

    name: str
    datatype: str
    shape: list[int]
    data: Data
    binary: bool = False


@dataclass
class RequestedOutput:
    name: str
    binary: bool
    classification: int | None = None  # the classification extension: top K as "score:index:label"


@dataclass
class InferRequest:
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None  # None: every output
    id: str | None = None
    binary_output: bool = False  # the request's binary_data_output: the default of each output


# -- requests ------------------------------------------------------------------------------
def split_body(body: bytes, header_length: str | None) -> tuple[memoryview, memoryview]:
    """The JSON header and the binary data after it (empty without the header-length header)."""
    view = memoryview(body)
    if header_length is None or header_length.strip() == "":
        return view, view[len(view) :]
    try:
        length = int(header_length)
    except ValueError:
        raise BadRequest(f"{HEADER_LENGTH} must be an integer, not {header_length!r}") from None
    if not 0 <= length <= len(body):
        raise BadRequest(f"{HEADER_LENGTH} is {length}, but the body has {len(body)} bytes")
    return view[:length], view[length:]


def parse_infer_request(body: bytes, header_length: str | None = None) -> InferRequest:
    """An inference request from its body (JSON, or JSON then binary data)."""
    header, binary = split_body(body, header_length)
    try:
        document = orjson.loads(header)
    except orjson.JSONDecodeError as error:
        empty = "" if len(header) else " (empty body)"
        raise BadRequest(f"the inference request is not valid JSON{empty}: {error}") from None
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("the inference request must be a JSON object with 'inputs': a non-empty list of tensors")
    parameters = _object(document.get("parameters"), "the request's parameters")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("the request 'id' must be a string")
    offset, tensors = 0, []
    for entry in inputs:  # binary data in the order of the inputs
        tensor, used = parse_input(entry, binary[offset:])
        tensors.append(tensor)
        offset += used
    if offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data follow the inputs' binary_data_size")
    binary_output = _flag(parameters.get("binary_data_output", False), "binary_data_output")
    outputs = document.get("outputs")
    if outputs is not None and not isinstance(outputs, list):
        raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
    requested = None if outputs is None else [parse_output(entry, binary_output) for entry in outputs]
    return InferRequest(tensors, requested, request_id, binary_output)


def parse_input(entry: Any, binary: memoryview) -> tuple[Tensor, int]:
    """One input tensor; its data is in ``entry["data"]`` or the first bytes of ``binary``."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise BadRequest("each input must be an object with 'name', 'datatype', 'shape' and 'data'")
    name, datatype = entry["name"], entry.get("datatype")
    if datatype not in DATATYPES:
        raise BadRequest(f"input {name!r}: datatype must be one of {', '.join(DATATYPES)}, not {datatype!r}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise BadRequest(f"input {name!r}: shape must be a list of non-negative integers, not {shape!r}")
    parameters = _object(entry.get("parameters"), f"input {name!r}: parameters")
    count = math.prod(shape)
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or not 0 <= size <= len(binary):
            raise BadRequest(
                f"input {name!r}: binary_data_size must be an integer from 0 to the {len(binary)} "
                f"bytes of binary data left, not {size!r}"
            )
        if "data" in entry:
            raise BadRequest(f"input {name!r} has both 'data' and binary_data_size: send one")
        return Tensor(name, datatype, shape, binary_data(name, datatype, count, binary[:size])), size
    if "data" not in entry:
        raise BadRequest(f"input {name!r} has no 'data' (nor parameters.binary_data_size)")
    return Tensor(name, datatype, shape, json_data(name, datatype, count, entry["data"], parameters)), 0


def binary_data(name: str, datatype: str, count: int, raw: memoryview) -> Data:
    if datatype == "BYTES":
        elements = bytes_elements(raw)
        _check_count(name, count, len(elements))
        return elements
    dtype = DTYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            f"input {name!r}: {count} {datatype} values take {count * dtype.itemsize} bytes, "
            f"binary_data_size is {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype)


def json_data(name: str, datatype: str, count: int, data: Any, parameters: dict[str, Any]) -> Data:
    values = data if isinstance(data, list) else [data]
    if datatype == "BYTES":
        plain = parameters.get("content_type") in ("str", "string", "text")
        elements = [_json_bytes(name, value, plain) for value in _flat(values)]
        _check_count(name, count, len(elements))
        return elements
    dtype, kinds = DTYPES[datatype], {"b": "b", "u": "bu", "i": "bui"}.get(DTYPES[datatype].kind, "buif")
    try:  # numbers only: no null (NaN), strings or fractions for integers
        array = np.asarray(values)
        if array.dtype.kind not in kinds:
            raise TypeError(array.dtype)
        array = array.astype(dtype, casting="unsafe", copy=False)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"input {name!r}: 'data' must be a list of {datatype} values") from None
    _check_count(name, count, array.size)
    return array.reshape(-1)


def parse_output(entry: Any, binary_default: bool) -> RequestedOutput:
    """A requested output: ``binary_data`` (default: the request's ``binary_data_output``), ``classification``."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise BadRequest("each requested output must be an object with a 'name'")
    name = entry["name"]
    parameters = _object(entry.get("parameters"), f"output {name!r}: parameters")
    binary = _flag(parameters.get("binary_data", binary_default), f"output {name!r}: binary_data")
    classes = parameters.get("classification")
    if classes is not None and (type(classes) is not int or classes < 0):
        raise BadRequest(f"output {name!r}: classification must be a positive integer (the top K), not {classes!r}")
    return RequestedOutput(name, binary, classes or None)


# -- BYTES elements -------------------------------------------------------------------------
def bytes_elements(raw: bytes | memoryview) -> list[bytes]:
    """The elements of a binary BYTES tensor: each a 4-byte little-endian length, then that many bytes."""
    view, elements, offset = memoryview(raw), [], 0
    while offset < len(view):
        if offset + 4 > len(view):
            raise BadRequest(f"a BYTES element's 4-byte length is cut off at byte {offset}")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise BadRequest(f"a BYTES element of {length} bytes at byte {offset} runs past the data's end")
        elements.append(bytes(view[offset : offset + length]))
        offset += length
    return elements


def encode_bytes_elements(elements: Sequence[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(element)) + element for element in elements)


# -- responses ---------------------------------------------------------------------------
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


# -- helpers ---------------------------------------------------------------------------
def _object(value: Any, what: str) -> dict[str, Any]:
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value or {}


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise BadRequest(f"{what} must be true or false, not {value!r}")


def _check_count(name: str, expected: int, got: int) -> None:
    if expected != got:
        raise BadRequest(f"input {name!r}: its shape holds {expected} elements, its data {got}")


def _flat(values: list[Any]) -> list[Any]:
    return [leaf for value in values for leaf in (_flat(value) if isinstance(value, list) else [value])]


def _json_bytes(name: str, value: Any, plain: bool) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"input {name!r}: a BYTES element in JSON must be a string (base64 for binary content)")
    if not plain:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass  # not base64: the string itself
    return value.encode("utf-8")
