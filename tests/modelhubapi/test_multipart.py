"""The multipart/form-data parser of the predict route, on raw bytes (no server)."""

from __future__ import annotations

import io

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from modelhub.errors import BadRequest, PayloadTooLarge
from modelhubapi.multipart import MAX_PARTS, MalformedMultipart, parse, uploaded_file

BOUNDARY = "b0undary"


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = preamble
    for part in parts:
        out += b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n"
    return out + b"--" + BOUNDARY.encode() + b"--\r\n" + epilogue


def file_part(data: bytes, name: str = "file", filename: str = "cat.jpg") -> bytes:
    return (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data


def field_part(value: bytes, name: str) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value


def test_one_file_with_crlf_and_dashes_inside() -> None:
    data = b"\xff\xd8 binary \r\n--b0undar not the boundary \r\n\r\n--\x00\xff\xd9"
    parts = parse(body(file_part(data)), BOUNDARY)
    assert len(parts) == 1
    assert (parts[0].name, parts[0].filename, parts[0].content_type, parts[0].data) == (
        "file", "cat.jpg", "image/jpeg", data)


def test_preamble_epilogue_padding_and_fields() -> None:
    raw = body(field_part(b"5", "top"), file_part(b"abc"), preamble=b"ignored preamble\r\n",
               epilogue=b"ignored epilogue")
    raw = raw.replace(b"--b0undary\r\n", b"--b0undary \t\r\n", 1)  # transport padding after a boundary
    parts = parse(raw, BOUNDARY)
    assert [(p.name, p.filename, p.data) for p in parts] == [("top", None, b"5"), ("file", "cat.jpg", b"abc")]


def test_utf8_and_quoted_file_names() -> None:
    part = 'Content-Disposition: form-data; name="file"; filename="chat \\"noir\\" é.jpg"\r\n\r\nx'.encode()
    assert parse(body(part), BOUNDARY)[0].filename == 'chat "noir" é.jpg'


def test_empty_body_has_no_parts() -> None:
    assert parse(b"", BOUNDARY) == []
    assert parse(b"--b0undary--\r\n", BOUNDARY) == []


@pytest.mark.parametrize(("raw", "reason"), [
    (b"no boundary at all", "does not contain the boundary"),
    (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc", "closing boundary is missing"),
    (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"", "headers do not end"),
    (b"--b0undaryX\r\n\r\n", "not followed by a line break"),
    (b"--b0undary\r\nbroken header\r\n\r\nabc\r\n--b0undary--", "header line without a name"),
    (b"--b0undary\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b0undary--", "no 'Content-Disposition"),
    (b"--b0undary\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nabc\r\n--b0undary--", "form-data"),
])
def test_malformed_bodies_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMultipart, match=reason):
        parse(raw, BOUNDARY)


def test_boundary_must_be_given_and_short() -> None:
    with pytest.raises(MalformedMultipart, match="boundary"):
        parse(body(file_part(b"x")), "")
    with pytest.raises(MalformedMultipart, match="boundary"):
        parse(b"x", "b" * 201)


def test_part_count_is_bounded() -> None:
    many = body(*[field_part(b"1", f"f{i}") for i in range(MAX_PARTS + 1)])
    with pytest.raises(MalformedMultipart, match=f"more than {MAX_PARTS} parts"):
        parse(many, BOUNDARY)


@pytest.mark.parametrize("client", ["requests", "werkzeug"])
def test_bodies_written_by_real_clients(client: str) -> None:
    """The bodies that requests (like curl and browsers) and werkzeug's test client write."""
    data = bytes(range(256)) * 40
    for payload in (data, b""):
        if client == "requests":
            prepared = requests.Request("POST", "http://x/", files={"file": ("a.png", payload, "image/png")},
                                        data={"note": "hi"}).prepare()
            raw, content_type = prepared.body, prepared.headers["Content-Type"]
        else:
            environ = EnvironBuilder(method="POST", data={"file": (io.BytesIO(payload), "a.png"), "note": "hi"},
                                     content_type="multipart/form-data").get_environ()
            raw, content_type = environ["wsgi.input"].read(), environ["CONTENT_TYPE"]
        boundary = content_type.split("boundary=")[1].strip('"')
        assert isinstance(raw, bytes)
        assert uploaded_file(raw, boundary, limit=len(data)) == payload


def test_uploaded_file_errors() -> None:
    ok = body(file_part(b"img"), field_part(b"3", "top"))
    assert uploaded_file(ok, BOUNDARY, limit=10) == b"img"
    cases = [
        (b"", "no file uploaded"),
        (body(file_part(b"img", name="image")), "no multipart field 'file' (got image)"),
        (body(file_part(b"a"), file_part(b"b")), "exactly one file"),
        (body(file_part(b"a"), file_part(b"b", name="other")), "exactly one file"),
        (b"garbage", "malformed (the body does not contain the boundary)"),
    ]
    for raw, message in cases:
        with pytest.raises(BadRequest, match="'file'") as error:
            uploaded_file(raw, BOUNDARY, limit=10)
        assert message in error.value.message and error.value.status == 400
    with pytest.raises(BadRequest, match="malformed"):
        uploaded_file(ok, None, limit=10)
    with pytest.raises(PayloadTooLarge) as too_large:
        uploaded_file(body(file_part(b"x" * 11)), BOUNDARY, limit=10)
    assert too_large.value.status == 413 and "limit of 10 bytes" in too_large.value.message


@settings(max_examples=200, deadline=None, derandomize=True)
@given(files=st.lists(st.binary(max_size=2000), min_size=1, max_size=4),
       fields=st.dictionaries(st.text("abcdefgh", min_size=1, max_size=8), st.text(max_size=50), max_size=3))
def test_any_content_round_trips(files: list[bytes], fields: dict[str, str]) -> None:
    """Whatever the bytes (line breaks, dashes, boundary-like runs), each part comes back as sent."""
    prepared = requests.Request("POST", "http://x/", files=[(f"f{i}", (f"{i}.bin", data)) for i, data in
                                                            enumerate(files)], data=fields).prepare()
    raw = prepared.body
    assert isinstance(raw, bytes)
    boundary = prepared.headers["Content-Type"].split("boundary=")[1]
    parts = parse(raw, boundary)
    assert {p.name: p.data.decode() for p in parts if p.filename is None} == fields
    assert [p.data for p in parts if p.filename is not None] == files
