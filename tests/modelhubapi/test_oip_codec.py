"""The Open Inference Protocol codec, alone: binary framing, BYTES length prefixes, classification, errors."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import orjson
import pytest

from modelhub.errors import BadRequest
from modelhubapi.oip_codec import (
    Tensor,
    bytes_elements,
    encode_bytes_elements,
    encode_infer_response,
    parse_infer_request,
    split_body,
)
from modelhubapi.oip_model import classify


def framed(header: dict, *chunks: bytes) -> tuple[bytes, str]:
    """A binary-extension body: the JSON header, then the chunks; and its Inference-Header-Content-Length."""
    text = json.dumps(header).encode()
    return text + b"".join(chunks), str(len(text))


def bad(body: bytes, header_length: str | None = None) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_infer_request(body, header_length)
    assert caught.value.status == 400
    return caught.value.message


def test_split_body() -> None:
    header, binary = split_body(b'{"a":1}xyz', "7")
    assert (bytes(header), bytes(binary)) == (b'{"a":1}', b"xyz")
    header, binary = split_body(b'{"a":1}', None)
    assert (bytes(header), bytes(binary)) == (b'{"a":1}', b"")
    for value in ("eight", "-1", "99"):
        with pytest.raises(BadRequest, match="Inference-Header-Content-Length"):
            split_body(b'{"a":1}', value)


def test_binary_inputs_are_taken_in_order_with_their_sizes() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    ids = np.array([7, -1], dtype=np.int64)
    header = {
        "id": "r1",
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 3, 4], "parameters": {"binary_data_size": x.nbytes}},
            {"name": "ids", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": ids.nbytes}},
            {"name": "j", "datatype": "FP32", "shape": [1, 2], "data": [[0.5, 1.5]]},
        ],
    }
    body, length = framed(header, x.tobytes(), ids.tobytes())
    request = parse_infer_request(body, length)
    assert request.id == "r1" and request.outputs is None and not request.binary_output
    first, second, third = request.inputs
    assert first.shape == [2, 3, 4] and np.array_equal(first.data.reshape(first.shape), x)
    assert np.array_equal(second.data, ids) and second.datatype == "INT64"
    assert np.array_equal(third.data, np.array([0.5, 1.5], dtype=np.float32)) and third.data.dtype == np.float32


def test_binary_framing_errors() -> None:
    x = np.zeros(4, dtype=np.float32)
    entry = {"name": "x", "datatype": "FP32", "shape": [4], "parameters": {"binary_data_size": 16}}
    body, length = framed({"inputs": [entry]}, x.tobytes(), b"extra")
    assert "5 bytes of binary data follow" in bad(body, length)
    body, length = framed({"inputs": [entry]}, x.tobytes()[:12])
    assert "binary_data_size must be an integer from 0 to the 12 bytes" in bad(body, length)
    short = {**entry, "parameters": {"binary_data_size": 12}}
    body, length = framed({"inputs": [short]}, x.tobytes()[:12])
    assert "4 FP32 values take 16 bytes, binary_data_size is 12" in bad(body, length)
    both = {**entry, "data": [0, 0, 0, 0]}
    body, length = framed({"inputs": [both]}, x.tobytes())
    assert "both 'data' and binary_data_size" in bad(body, length)
    # Without the header-length header the whole body is JSON, so binary data after it is not JSON.
    assert "not valid JSON" in bad(body)


def test_json_request_errors() -> None:
    def one(**entry: object) -> bytes:
        tensor = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2], **entry}
        return json.dumps({"inputs": [tensor]}).encode()

    assert "not valid JSON (empty body)" in bad(b"")
    assert "not valid JSON" in bad(b"{inputs")
    assert "non-empty list of tensors" in bad(b"[]")
    assert "non-empty list of tensors" in bad(b'{"inputs": []}')
    assert "datatype must be one of" in bad(one(datatype="FLOAT"))
    assert "shape must be a list of non-negative integers" in bad(one(shape=[2, -1]))
    assert "shape must be a list of non-negative integers" in bad(one(shape="2"))
    assert "its shape holds 2 elements, its data 3" in bad(one(data=[1, 2, 3]))
    assert "'data' must be a list of FP32 values" in bad(one(data=[1, None]))
    assert "'data' must be a list of FP32 values" in bad(one(data=[[1], [2, 3]]))
    assert "'data' must be a list of FP32 values" in bad(one(data=["1", "2"]))
    assert "'data' must be a list of INT64 values" in bad(one(datatype="INT64", data=[1.5, 2]))
    assert "'data' must be a list of BOOL values" in bad(one(datatype="BOOL", data=[1, 0]))
    ok = parse_infer_request(one(datatype="INT64", data=[[3], [-4]])).inputs[0].data
    assert ok.dtype == np.int64 and ok.tolist() == [3, -4]
    assert "has no 'data'" in bad(json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}).encode())
    assert "'id' must be a string" in bad(one().replace(b'{"inputs"', b'{"id": 3, "inputs"'))
    assert "parameters must be a JSON object" in bad(one(parameters=[1]))


def test_requested_outputs_and_their_parameters() -> None:
    base = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}
    request = parse_infer_request(
        orjson.dumps(
            {
                **base,
                "parameters": {"binary_data_output": True},
                "outputs": [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False, "classification": 3}}],
            }
        )
    )
    assert [(o.name, o.binary, o.classification) for o in request.outputs] == [("a", True, None), ("b", False, 3)]
    assert request.binary_output
    assert "classification must be a positive integer" in bad(
        orjson.dumps({**base, "outputs": [{"name": "a", "parameters": {"classification": "3"}}]})
    )
    assert "binary_data must be true or false" in bad(
        orjson.dumps({**base, "outputs": [{"name": "a", "parameters": {"binary_data": 1}}]})
    )
    assert "binary_data_output must be true or false" in bad(
        orjson.dumps({**base, "parameters": {"binary_data_output": "yes"}})
    )
    assert "'outputs' must be a list" in bad(orjson.dumps({**base, "outputs": {"name": "a"}}))


def test_bytes_length_prefixes() -> None:
    elements = [b"\x89PNG...", b"", "é".encode(), bytes(range(256))]
    raw = encode_bytes_elements(elements)
    assert raw[:4] == struct.pack("<I", 7) and len(raw) == 4 * 4 + sum(map(len, elements))
    assert bytes_elements(raw) == elements
    assert bytes_elements(b"") == []
    with pytest.raises(BadRequest, match="4-byte length is cut off at byte 11"):
        bytes_elements(raw[:11] + b"\x01")
    with pytest.raises(BadRequest, match="runs past the data's end"):
        bytes_elements(struct.pack("<I", 10) + b"short")


def test_bytes_inputs_binary_and_json() -> None:
    images = [b"\xff\xd8\xff\xe0 jpeg", b"\x89PNG\r\n\x1a\n png"]
    raw = encode_bytes_elements(images)
    entry = {"name": "image", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(raw)}}
    body, length = framed({"inputs": [entry]}, raw)
    assert parse_infer_request(body, length).inputs[0].data == images
    wrong = {**entry, "shape": [3]}
    body, length = framed({"inputs": [wrong]}, raw)
    assert "its shape holds 3 elements, its data 2" in bad(body, length)
    # JSON: base64 strings, plain strings (not valid base64, or content_type "str"), nested lists.
    encoded = [base64.b64encode(image).decode() for image in images]
    as_json = {"name": "image", "datatype": "BYTES", "shape": [2, 1], "data": [[encoded[0]], [encoded[1]]]}
    assert parse_infer_request(orjson.dumps({"inputs": [as_json]})).inputs[0].data == images
    plain = {"name": "t", "datatype": "BYTES", "shape": [2], "data": ["hello world", "abcd"]}
    assert parse_infer_request(orjson.dumps({"inputs": [plain]})).inputs[0].data == [b"hello world", b"i\xb7\x1d"]
    text = {**plain, "parameters": {"content_type": "str"}}
    assert parse_infer_request(orjson.dumps({"inputs": [text]})).inputs[0].data == [b"hello world", b"abcd"]
    assert "must be a string" in bad(orjson.dumps({"inputs": [{**plain, "data": ["a", 1]}]}))


def test_classification_strings_follow_triton() -> None:
    scores = np.array([[0.1, 0.6, 0.3, 0.0], [0.25, 0.25, 0.5, 0.0]])
    elements, shape = classify(scores, 2, ["cat", "dog, puppy", "car", "cup"])
    assert shape == [2, 2]
    assert elements == [b"0.600000:1:dog, puppy", b"0.300000:2:car", b"0.500000:2:car", b"0.250000:0:cat"]
    elements, shape = classify(np.array([1.5, -2.0]), 5)  # no labels: "score:index"; k clipped to the classes
    assert (elements, shape) == ([b"1.500000:0", b"-2.000000:1"], [2])
    elements, _ = classify(scores, 1, ["only one label"])  # labels that do not match the classes are left out
    assert elements == [b"0.600000:1", b"0.500000:2"]


def test_response_json_and_binary() -> None:
    probabilities = np.array([[0.25, 0.75]], dtype=np.float32)
    labels = [b"0.750000:1:b"]
    body, length = encode_infer_response(
        "m", "1", "req-7", [Tensor("p", "FP32", [1, 2], probabilities), Tensor("c", "BYTES", [1, 1], labels)]
    )
    assert length is None
    assert orjson.loads(body) == {
        "model_name": "m",
        "model_version": "1",
        "id": "req-7",
        "outputs": [
            {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]},
            {"name": "c", "datatype": "BYTES", "shape": [1, 1], "data": ["0.750000:1:b"]},
        ],
    }
    body, length = encode_infer_response(
        "m",
        "1",
        None,
        [
            Tensor("p", "FP32", [1, 2], probabilities, binary=True),
            Tensor("c", "BYTES", [1, 1], labels, binary=True),
            Tensor("q", "FP32", [1, 2], probabilities),
        ],
    )
    assert length is not None
    header = orjson.loads(body[:length])
    assert "id" not in header
    assert [o.get("parameters") for o in header["outputs"]] == [{"binary_data_size": 8}, {"binary_data_size": 16}, None]
    assert body[length:] == probabilities.astype("<f4").tobytes() + encode_bytes_elements(labels)


def test_response_reads_back_in_tritonclient() -> None:
    http = pytest.importorskip("tritonclient.http")
    probabilities = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    body, length = encode_infer_response(
        "m",
        "1",
        "x",
        [
            Tensor("p", "FP32", [2, 2], probabilities, binary=True),
            Tensor("c", "BYTES", [2, 1], [b"0.750000:1:b", b"0.500000:0:a"], binary=True),
        ],
    )
    result = http.InferResult.from_response_body(body, header_length=length)
    assert np.array_equal(result.as_numpy("p"), probabilities)
    assert result.as_numpy("c").tolist() == [[b"0.750000:1:b"], [b"0.500000:0:a"]]
