"""The uploaded file of a multipart/form-data body that is already read and bounded in size.

Parsed by python-multipart's ``MultipartParser`` (RFC 7578 / RFC 2046), with callbacks, on the whole body.
bench/multipart.py: 33-38 us for a 54 KB photo (the bare library 21-30 us, the former hand-written parser 19-20 us,
werkzeug's parsers and streaming-form-data 0.4-0.7 ms); 19 MB of padding after a boundary is refused in
0.2 ms and a 5 MB field name in 4 ms, where the former parser took 1.6-2 s and 1-1.4 s.

Before the library runs, one ``bytes.find`` pass over the delimiter lines does what it does not: skips a
preamble, bounds the transport padding after a boundary (the library steps through padding a byte per loop:
over 2 s for 19 MB), refuses a boundary followed by anything but padding and a line break (the library reads
it as data at a few loop steps each: 0.5 s for 19 MB of them), caps the part count early, and gives the library
the empty parts that werkzeug's test client writes (headers, then the delimiter, without a blank line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from modelhub.errors import BadRequest, PayloadTooLarge

FIELD = "file"
MAX_PARTS = 1000  # as werkzeug's default: a body of tiny parts must not cost a long loop
MAX_BOUNDARY_LENGTH = 200  # RFC 2046 says 70; some clients (werkzeug's test client) write longer ones
MAX_PADDING = 64  # spaces and tabs after a boundary (RFC 2046 transport padding; no client sends any)
MAX_HEADER_LINE = 4096 + 128  # python-multipart's limit on one header line, so a field name is at most ~4 KB
MAX_HEADERS = 8  # python-multipart's limit on header lines per part
MAX_NAME_SHOWN = 100  # characters of a field name echoed in an error message
MAX_NAMES_SHOWN = 10
_CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    data: bytes


class _Malformed(ValueError):
    """The body does not follow the multipart syntax; the message says where."""


@dataclass
class _RawPart:
    headers: dict[str, bytes] = field(default_factory=dict)  # lower-case names, raw values
    chunks: list[bytes] = field(default_factory=list)


class _Collector:
    """python-multipart's callbacks: the parts' headers and data, in order."""

    def __init__(self) -> None:
        self.parts: list[_RawPart] = []
        self.in_headers = False
        self.ended = False
        self._name = b""
        self._value = b""

    def parser(self, boundary: bytes) -> MultipartParser:
        """A parser that calls this collector."""
        return MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_end": self._end,
            },
            max_header_count=MAX_HEADERS,
            max_header_size=MAX_HEADER_LINE,
        )

    def _part_begin(self) -> None:
        self.parts.append(_RawPart())
        self.in_headers = True

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self.parts[-1].headers[self._name.decode("latin-1").lower()] = self._value.strip()
        self._name = self._value = b""

    def _headers_finished(self) -> None:
        self.in_headers = False

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.parts[-1].chunks.append(data[start:end])

    def _end(self) -> None:
        self.ended = True


def _parse(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body, in order; an empty body has none."""
    if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
        raise _Malformed("the boundary in the content type is missing or too long")
    if not boundary.isascii():
        raise _Malformed("the boundary in the content type is not ASCII")
    if not body:
        return []
    dash = b"--" + boundary.encode("ascii")
    collector = _Collector()
    parser = collector.parser(dash[2:])
    try:
        for piece in _pieces(body, dash):
            parser.write(piece)
    except MultipartParseError as error:
        raise _Malformed(_header_problem(str(error))) from None
    if not collector.ended:
        raise _Malformed("a part's headers do not end" if collector.in_headers else "the closing boundary is missing")
    return [_part(raw) for raw in collector.parts]


def _pieces(body: bytes, dash: bytes) -> list[bytes]:
    """The body as python-multipart is to read it: from the first delimiter, with the delimiter lines checked.

    Padding after a boundary is cut out, and a part whose headers run into the next delimiter (no blank
    line: an empty part) gets the blank line that python-multipart expects.  Usually ``[body]``, uncopied.
    """
    if body.startswith(dash):
        first = 0
    else:  # after a preamble
        first = body.find(_CRLF + dash) + len(_CRLF)
        if first < len(_CRLF):
            raise _Malformed("the body does not contain the boundary")
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement) in body order
    hit = first
    headers_start, parts = -1, 0
    while True:
        if headers_start >= 0 and body.find(_CRLF + _CRLF, headers_start, hit) == hit - 2 * len(_CRLF):
            edits.append((hit - len(_CRLF), hit - len(_CRLF), _CRLF))
        cursor = hit + len(dash)
        if body.startswith(b"--", cursor):
            break  # the closing delimiter; python-multipart ignores the epilogue after it
        padding = _padding(body, cursor)
        if not body.startswith(_CRLF, cursor + padding):
            raise _Malformed("a boundary line is not followed by a line break")
        parts += 1
        if parts > MAX_PARTS:
            raise _Malformed(f"more than {MAX_PARTS} parts")
        if padding:
            edits.append((cursor, cursor + padding, b""))
        headers_start = cursor + padding + len(_CRLF)
        hit = body.find(_CRLF + dash, headers_start) + len(_CRLF)
        if hit < len(_CRLF):
            break  # no closing delimiter: python-multipart reads on to the end and the caller says so
    pieces: list[bytes] = []
    position = first
    for start, end, replacement in edits:
        pieces += [body[position:start], replacement]
        position = end
    return [*pieces, body[position:] if position else body]


def _padding(body: bytes, at: int) -> int:
    """How many spaces and tabs start at ``at``; more than :data:`MAX_PADDING` is malformed."""
    window = body[at : at + MAX_PADDING + 1]
    padding = len(window) - len(window.lstrip(b" \t"))
    if padding > MAX_PADDING:
        raise _Malformed(f"a boundary is followed by more than {MAX_PADDING} bytes of padding")
    return padding


def _header_problem(library_message: str) -> str:
    """What is wrong with a part's headers, from python-multipart's error (the delimiters were checked before)."""
    if library_message.startswith("Maximum header size"):
        return f"a part has a header line longer than {MAX_HEADER_LINE} bytes"
    if library_message.startswith("Maximum header count"):
        return f"a part has more than {MAX_HEADERS} header lines"
    return "a part has a header line without a name or with a bad character"


def _part(raw: _RawPart) -> Part:
    disposition, parameters = parse_options_header(raw.headers.get("content-disposition"))
    options = {key.lower(): value for key, value in parameters.items()}
    if disposition != b"form-data" or b"name" not in options:
        raise _Malformed("a part has no 'Content-Disposition: form-data; name=...' header")
    filename = options.get(b"filename")
    return Part(_text(options[b"name"]), None if filename is None else _text(filename), b"".join(raw.chunks))


def _text(value: bytes) -> str:
    """A name from a header: browsers send UTF-8 file names as raw bytes; anything else is read as Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _shown(names: set[str]) -> str:
    """Field names for an error message: sorted, each cut short, at most :data:`MAX_NAMES_SHOWN` of them."""
    cut = sorted(name if len(name) <= MAX_NAME_SHOWN else name[:MAX_NAME_SHOWN] + "..." for name in names)
    more = len(cut) - MAX_NAMES_SHOWN
    return ", ".join(cut[:MAX_NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def uploaded_file(body: bytes, boundary: str | None, limit: int) -> bytes:
    """The bytes of the one file in the field ``file``, or a :class:`BadRequest` that says what is wrong.

    Plain form fields beside it are ignored; a second file (in any field) is refused.
    """
    try:
        parts = _parse(body, boundary or "")
    except _Malformed as error:
        raise BadRequest(
            f"the multipart body is malformed ({error}); send the image in the multipart "
            f"field '{FIELD}', e.g. curl -F {FIELD}=@cat.jpg"
        ) from None
    if not parts:
        raise BadRequest(f"no file uploaded: send the image in the multipart field '{FIELD}'")
    chosen = [part for part in parts if part.name == FIELD]
    if not chosen:
        raise BadRequest(
            f"no multipart field '{FIELD}' (got {_shown({part.name for part in parts})}); send the image as '{FIELD}'"
        )
    if len(chosen) > 1 or any(part.filename is not None for part in parts if part.name != FIELD):
        raise BadRequest(f"send exactly one file, in the multipart field '{FIELD}'")
    data = chosen[0].data
    if len(data) > limit:
        raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
    return data
