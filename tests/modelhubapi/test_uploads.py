"""The uploaded file of the predict route's multipart/form-data body, on raw bytes (no server)."""

from __future__ import annotations

import io

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from modelhub.errors import BadRequest, PayloadTooLarge
from modelhubapi.uploads import MAX_HEADER_LINE, MAX_HEADERS, MAX_PADDING, MAX_PARTS, uploaded_file

BOUNDARY = "b0undary"
LIMIT = 10_000


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = preamble
    for part in parts:
        out += b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n"
    return out + b"--" + BOUNDARY.encode() + b"--\r\n" + epilogue


def file_part(data: bytes, name: str = "file", filename: str = "cat.jpg") -> bytes:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode() + data


def field_part(value: bytes, name: str) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value


def refusal(raw: bytes, boundary: str | None = BOUNDARY) -> str:
    """The message of the 400 that ``raw`` gets."""
    with pytest.raises(BadRequest) as error:
        uploaded_file(raw, boundary, limit=LIMIT)
    assert error.value.status == 400
    return error.value.message


def malformed(raw: bytes, boundary: str | None = BOUNDARY) -> str:
    """The reason given in the 'malformed' message that ``raw`` gets."""
    message = refusal(raw, boundary)
    prefix, suffix = "the multipart body is malformed (", "); send the image in the multipart field 'file', e.g. "
    assert message.startswith(prefix) and message.endswith(suffix + "curl -F file=@cat.jpg"), message
    return message[len(prefix) : message.index(suffix)]


def test_one_file_with_crlf_and_dashes_inside() -> None:
    data = b"\xff\xd8 binary \r\n--b0undar not the boundary \r\n\r\n--\x00\xff\xd9"
    assert uploaded_file(body(file_part(data)), BOUNDARY, limit=LIMIT) == data


def test_preamble_epilogue_padding_and_fields() -> None:
    raw = body(
        field_part(b"5", "top"),
        file_part(b"abc"),
        field_part(b"6", "bottom"),
        preamble=b"ignored preamble\r\n",
        epilogue=b"ignored epilogue",
    )
    raw = raw.replace(b"--b0undary\r\n", b"--b0undary \t\r\n", 2)  # transport padding after two boundaries
    assert uploaded_file(raw, BOUNDARY, limit=LIMIT) == b"abc"
    padded = body(file_part(b"abc")).replace(b"--b0undary\r\n", b"--b0undary" + b" " * MAX_PADDING + b"\r\n")
    assert uploaded_file(padded, BOUNDARY, limit=LIMIT) == b"abc"


def test_utf8_and_quoted_file_names() -> None:
    part = 'Content-Disposition: form-data; name="file"; filename="chat \\"noir\\" é.jpg"\r\n\r\nx'.encode()
    assert uploaded_file(body(part), BOUNDARY, limit=LIMIT) == b"x"
    other = part.replace(b'name="file"', b'name="other"')
    assert "exactly one file" in refusal(body(file_part(b"a"), other))  # its file name was read


def test_empty_body_has_no_parts() -> None:
    for raw in (b"", b"--b0undary--\r\n"):
        assert refusal(raw) == "no file uploaded: send the image in the multipart field 'file'"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"no boundary at all", "the body does not contain the boundary"),
        (b'--b0undary\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc', "the closing boundary is missing"),
        (b'--b0undary\r\nContent-Disposition: form-data; name="file"', "a part's headers do not end"),
        (b"--b0undaryX\r\n\r\n", "a boundary line is not followed by a line break"),
        (b"--b0undary\r\nbroken header\r\n\r\nabc\r\n--b0undary--", "a part has a header line without a name"),
        (
            b"--b0undary\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b0undary--",
            "a part has no 'Content-Disposition: form-data; name=...' header",
        ),
        (b'--b0undary\r\nContent-Disposition: attachment; name="a"\r\n\r\nabc\r\n--b0undary--', "form-data"),
    ],
)
def test_malformed_bodies_say_why(raw: bytes, reason: str) -> None:
    assert reason in malformed(raw)


def test_boundary_must_be_given_and_short() -> None:
    assert "boundary" in malformed(body(file_part(b"x")), "")
    assert "boundary" in malformed(body(file_part(b"x")), None)
    assert "boundary" in malformed(b"x", "b" * 201)
    assert "boundary" in malformed(b"x", "b\u20acoundary")


def test_part_count_is_bounded() -> None:
    fields = [field_part(b"1", f"f{i}") for i in range(MAX_PARTS - 1)]
    assert uploaded_file(body(*fields, file_part(b"img")), BOUNDARY, limit=LIMIT) == b"img"
    too_many = body(*fields, field_part(b"1", "one more"), file_part(b"img"))
    assert malformed(too_many) == f"more than {MAX_PARTS} parts"


@pytest.mark.parametrize("client", ["requests", "werkzeug"])
def test_bodies_written_by_real_clients(client: str) -> None:
    """The bodies that requests (like curl and browsers) and werkzeug's test client write."""
    data = bytes(range(256)) * 40
    for payload in (data, b""):
        if client == "requests":
            prepared = requests.Request(
                "POST", "http://x/", files={"file": ("a.png", payload, "image/png")}, data={"note": "hi"}
            ).prepare()
            raw, content_type = prepared.body, prepared.headers["Content-Type"]
        else:
            environ = EnvironBuilder(
                method="POST",
                data={"file": (io.BytesIO(payload), "a.png"), "note": "hi"},
                content_type="multipart/form-data",
            ).get_environ()
            raw, content_type = environ["wsgi.input"].read(), environ["CONTENT_TYPE"]
        boundary = content_type.split("boundary=")[1].strip('"')
        assert isinstance(raw, bytes)
        assert uploaded_file(raw, boundary, limit=len(data)) == payload


def test_part_without_a_blank_line_is_empty() -> None:
    """werkzeug's test client writes an empty file as headers followed directly by the next delimiter."""
    headers_only = file_part(b"")[: -len(b"\r\n")]
    raw = b"--b0undary\r\n" + headers_only + b"\r\n--b0undary\r\n" + field_part(b"hi", "note") + b"\r\n--b0undary--"
    assert uploaded_file(raw, BOUNDARY, limit=LIMIT) == b""
    raw = b"--b0undary\r\n" + field_part(b"hi", "note") + b"\r\n--b0undary\r\n" + headers_only + b"\r\n--b0undary--"
    assert uploaded_file(raw, BOUNDARY, limit=LIMIT) == b""


def test_file_field_without_file_name_and_other_fields() -> None:
    raw = body(field_part(b"top", "note"), field_part(b"img", "file"), field_part(b"", "empty"))
    assert uploaded_file(raw, BOUNDARY, limit=LIMIT) == b"img"
    shouted = b'CONTENT-DISPOSITION: Form-Data; NAME="file"; FileName="a.jpg"\r\n\r\nimg'
    assert uploaded_file(body(shouted), BOUNDARY, limit=LIMIT) == b"img"


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


def test_wrong_field_names_are_cut_short() -> None:
    assert refusal(body(field_part(b"1", "b"), file_part(b"x", name="a"))) == (
        "no multipart field 'file' (got a, b); send the image as 'file'"
    )
    long_name = "n" * 3000  # within the header line limit, so it reaches the message
    message = refusal(body(file_part(b"x", name=long_name)))
    assert f"(got {'n' * 100}...)" in message and len(message) < 200
    many = refusal(body(*[field_part(b"1", f"f{i:02}") for i in range(25)]))
    assert "(got f00, f01, f02, f03, f04, f05, f06, f07, f08, f09 and 15 more)" in many


def test_field_name_of_5_mb_is_refused_without_echo() -> None:
    raw = body(file_part(b"x", name="n" * (5 * 1024 * 1024)))
    reason = malformed(raw)
    assert reason == f"a part has a header line longer than {MAX_HEADER_LINE} bytes"


def test_header_lines_per_part_are_bounded() -> None:
    extra = b"".join(b"X-Extra-%d: 1\r\n" % i for i in range(MAX_HEADERS))
    assert malformed(body(extra + file_part(b"x"))) == f"a part has more than {MAX_HEADERS} header lines"


@pytest.mark.parametrize("where", ["first", "later"])
def test_19_mb_of_padding_after_a_boundary_is_refused(where: str) -> None:
    padding = b" \t" * (19 * 1024 * 1024 // 2)
    raw = body(field_part(b"1", "note"), file_part(b"img"))
    delimiter = b"--b0undary\r\n"
    at = raw.index(delimiter) if where == "first" else raw.index(delimiter, 1)
    raw = raw[: at + len(delimiter) - 2] + padding + raw[at + len(delimiter) - 2 :]
    assert malformed(raw) == f"a boundary is followed by more than {MAX_PADDING} bytes of padding"


def test_junk_after_boundaries_is_refused() -> None:
    assert malformed(b"--b0undary" + b"x" * (19 * 1024 * 1024)) == "a boundary line is not followed by a line break"
    flood = body(file_part(b"img" + b"\r\n--b0undaryX" * 1_000_000))
    assert malformed(flood) == "a boundary line is not followed by a line break"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    files=st.lists(st.binary(max_size=2000), min_size=1, max_size=4),
    fields=st.dictionaries(st.text("abcdefgh", min_size=1, max_size=8), st.text(max_size=50), max_size=3),
)
def test_any_content_round_trips(files: list[bytes], fields: dict[str, str]) -> None:
    """Whatever the bytes (line breaks, dashes, boundary-like runs), the file comes back as sent.

    Each blob in turn is the file; the others travel beside it as parts without a file name.
    """
    for chosen, data in enumerate(files):
        parts = [
            ("file" if i == chosen else f"f{i}", (f"{i}.bin" if i == chosen else None, blob))
            for i, blob in enumerate(files)
        ]
        prepared = requests.Request("POST", "http://x/", files=parts, data=fields).prepare()
        raw = prepared.body
        assert isinstance(raw, bytes)
        boundary = prepared.headers["Content-Type"].split("boundary=")[1]
        assert uploaded_file(raw, boundary, limit=len(data)) == data
