"""multipart/form-data parsers on the predict route's upload, and on hostile bodies, in one run.

    python bench/multipart.py [--parses 500]

Each candidate takes the whole body (bytes, as the predict route reads it) and returns the bytes
of the field ``file``.  The normal body is a 640x480 JPEG (about 54 KB) as ``curl -F file=@...``
sends it; the median of ``--parses`` parses is shown in microseconds.  The hostile bodies (within the
upload limit) are parsed once each, under a CPU-time cap: 19 MB of spaces and tabs after a boundary (the
first or a later one), 19 MB of boundary-like junk (the delimiter and one more byte, repeated), and a
part whose field name is 5 MB long.  About 15 seconds on 2 cores.

Needs python-multipart (a dependency); streaming-form-data is measured where installed.
"""

from __future__ import annotations

import argparse
import io
import logging
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import load  # noqa: E402
import photos  # noqa: E402

SAMPLES = BENCH_DIR.parent / "contrib_src" / "sample_data"
BOUNDARY = "------------------------d74496d66958873e"  # the shape of curl's boundaries
LIMIT = 20 * 1024 * 1024
BLOCKS = 5  # turns of each candidate in the normal-body timing
WARM_UP = 5  # parses before each block's timed ones
CAP_SECONDS = 2.0  # a hostile body that takes longer is stopped, shown as "> 2000 ms CPU"

Parser = Callable[[bytes, str], bytes]


def new_uploads(body: bytes, boundary: str) -> bytes:
    """The replacement module (python-multipart and its checks)."""
    from modelhubapi import uploads

    return uploads.uploaded_file(body, boundary, LIMIT)


def python_multipart(body: bytes, boundary: str) -> bytes:
    """python-multipart's low-level ``MultipartParser`` with callbacks (parts kept in lists)."""
    from python_multipart.multipart import MultipartParser

    headers: list[list[tuple[bytes, bytes]]] = []
    data: list[list[bytes]] = []
    field = b""

    def on_part_begin() -> None:
        headers.append([])
        data.append([])

    def on_header_field(chunk: bytes, start: int, end: int) -> None:
        nonlocal field
        field = chunk[start:end]

    def on_header_value(chunk: bytes, start: int, end: int) -> None:
        headers[-1].append((field, chunk[start:end]))

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        data[-1].append(chunk[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_part_data": on_part_data,
        },
    )
    parser.write(body)
    parser.finalize()
    for part_headers, chunks in zip(headers, data, strict=True):
        if any(b'name="file"' in value for _, value in part_headers):
            return b"".join(chunks)
    raise ValueError("no file")


def streaming_form_data(body: bytes, boundary: str) -> bytes:
    """streaming-form-data's Cython parser, a ``ValueTarget`` registered for ``file``."""
    from streaming_form_data import StreamingFormDataParser
    from streaming_form_data.targets import ValueTarget

    parser = StreamingFormDataParser(headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    target = ValueTarget()
    parser.register("file", target)
    parser.data_received(body)
    return target.value  # type: ignore[no-any-return]


def werkzeug_decoder(body: bytes, boundary: str) -> bytes:
    """werkzeug's sans-IO ``MultipartDecoder`` (the events, data joined per part)."""
    from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

    decoder = MultipartDecoder(boundary.encode("latin-1"), max_parts=1000)
    decoder.receive_data(body)
    decoder.receive_data(None)
    names: list[str] = []
    chunks: dict[str, list[bytes]] = {}
    while True:
        event = decoder.next_event()
        if isinstance(event, Field | File):
            names.append(event.name)
            chunks.setdefault(event.name, [])
        elif isinstance(event, Data):
            chunks[names[-1]].append(event.data)
        elif isinstance(event, Epilogue) or event is NEED_DATA:
            break
    return b"".join(chunks["file"])


def werkzeug_formparser(body: bytes, boundary: str) -> bytes:
    """werkzeug's streaming ``formparser.MultiPartParser`` (what Flask's ``request.files`` uses)."""
    from werkzeug.formparser import MultiPartParser

    form, files = MultiPartParser(max_form_parts=1000).parse(io.BytesIO(body), boundary.encode("latin-1"), len(body))
    return files["file"].read()  # type: ignore[no-any-return]


CANDIDATES: dict[str, Parser] = {
    "python-multipart MultipartParser": python_multipart,
    "streaming-form-data": streaming_form_data,
    "werkzeug sansio MultipartDecoder": werkzeug_decoder,
    "werkzeug formparser.MultiPartParser": werkzeug_formparser,
    "new uploads.uploaded_file": new_uploads,
}


def photo_bytes() -> bytes:
    """A 640x480 JPEG made from a sample photo (``bench/photos.py``), about 54 KB."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "photo.jpg"
        photos.make_photo(SAMPLES / photos.DEFAULT_SOURCE, 0.3072, target)
        return target.read_bytes()


def hostile_bodies(data: bytes) -> dict[str, bytes]:
    """Bodies within the upload limit that a parser must refuse, or get through quickly."""
    dash = f"--{BOUNDARY}".encode()
    file_headers = b'\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n\r\n'
    closing = b"\r\n" + dash + b"--\r\n"
    note = b'\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
    padding = b" \t" * (19 * 1024 * 1024 // 2)
    junk = (b"\r\n" + dash + b"x") * (19 * 1024 * 1024 // (len(dash) + 3))
    long_name = b'\r\nContent-Disposition: form-data; name="' + b"n" * (5 * 1024 * 1024) + b'"\r\n\r\nx'
    return {
        "19 MB padding after the first boundary": dash + padding + file_headers + data + closing,
        "19 MB padding after a later boundary": dash + note + dash + padding + file_headers + data + closing,
        "19 MB of boundary-like junk in a part": dash + file_headers + data + junk + closing,
        "field name of 5 MB": dash + long_name + closing,
    }


class _Stopped(Exception):
    """Raised by the CPU-time alarm inside a parser that runs past the cap."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def medians_us(body: bytes, parses: int) -> dict[str, float]:
    """Median microseconds per parse of each candidate.

    The candidates take turns in blocks of back-to-back parses (after a few warm-up ones), so that a busy
    machine skews them alike and each block runs with its own code and data in the caches.
    """
    times: dict[str, list[int]] = {name: [] for name in CANDIDATES}
    for _ in range(BLOCKS):
        for name, candidate in CANDIDATES.items():
            for _ in range(WARM_UP):
                candidate(body, BOUNDARY)
            for _ in range(parses // BLOCKS):
                start = time.perf_counter_ns()
                candidate(body, BOUNDARY)
                times[name].append(time.perf_counter_ns() - start)
    return {name: statistics.median(values) / 1000 for name, values in times.items()}


def hostile(parser: Parser, body: bytes) -> str:
    """CPU and wall milliseconds of one parse under the cap, and what came back (bytes, or the error cut short).

    CPU time may tick in steps of a few milliseconds; the wall time shows what is below a step.
    """
    signal.signal(signal.SIGPROF, _stop)
    cpu, wall = time.process_time(), time.perf_counter()
    signal.setitimer(signal.ITIMER_PROF, CAP_SECONDS)
    try:
        outcome = f"{len(parser(body, BOUNDARY))} bytes"
    except _Stopped:
        return f"> {CAP_SECONDS * 1000:.0f} ms CPU (stopped)"
    except Exception as error:  # noqa: BLE001 - any refusal is an outcome here
        outcome = f"{type(error).__name__}: {str(error)[:90]}"
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return f"{cpu * 1000:7.1f} ms CPU {wall * 1000:7.1f} ms wall  {outcome}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parses", type=int, default=500, help="timed parses of the normal body per candidate")
    args = parser.parse_args()
    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # it logs a warning for each parse error
    data = photo_bytes()
    body = load.multipart_body(data, "photo.jpg", BOUNDARY)
    print(f"normal body: {len(body)} bytes (JPEG of {len(data)} bytes), median of {args.parses} parses")
    for name, candidate in list(CANDIDATES.items()):
        try:
            assert candidate(body, BOUNDARY) == data, name
        except ImportError as error:
            print(f"  {name:40s} not installed ({error.name})")
            del CANDIDATES[name]
    for name, median in medians_us(body, args.parses).items():
        print(f"  {name:40s} {median:8.1f} us")
    for title, raw in hostile_bodies(data[:100]).items():
        print(f"{title} ({len(raw) / 1e6:.1f} MB), one parse:")
        for name, candidate in CANDIDATES.items():
            print(f"  {name:40s} {hostile(candidate, raw)}")


if __name__ == "__main__":
    main()
