"""A JPEG's structure, walked from its bytes without decoding a pixel.

Two attacks are decided here:

* **Scan bombs.** A progressive JPEG may hold any number of scans, and libjpeg runs each one over
  the whole image (one 53-byte scan repeated 10 000 times: a 906 KB file, 16 s of decoding).  The
  walk counts the scans (SOS markers) and refuses more than :data:`MAX_JPEG_SCANS` before anything
  is decoded.  The walk follows the segment structure: marker, 2-byte length, payload; after an SOS
  header the entropy-coded data runs to the next marker that is neither a stuffed ``FF 00`` nor a
  restart marker ``FF D0``-``FF D7``.
* **Data that ends early.** A file without its end-of-image marker is truncated.  A file whose frame
  header was enlarged (more rows than its data holds) decodes without an error: libjpeg warns
  "premature end of data segment" and leaves the missing blocks zero, which is mid-grey (128).
  :func:`reads_past_end` proves it: decoded at 1/8 scale once as sent and once with filler bytes
  where each scan's data ends (after the restart marker a decoder would expect next, where restart
  intervals are on), the two differ only if the decoder read past the data (a complete scan skips
  the filler as "extraneous bytes before marker").  It is asked only when the decoded image's last
  pixels are that mid-grey, so photos pay nothing.

The frame header also bounds memory: a progressive file is decoded with every DCT coefficient of
the image held until the last scan, so its image plus coefficients must fit
:data:`MAX_JPEG_DECODE_BYTES` (413 otherwise).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image

from .errors import ImageTooComplex, InvalidInput, PayloadTooLarge

#: Scans a JPEG may hold.  Baseline files have one per component group (1-3), progressive ones
#: about 10 (libjpeg's default script); libjpeg decodes the image once per scan.
MAX_JPEG_SCANS = 100
#: Scans times pixels: the work bound for large images.  One scan of a 64-megapixel image costs up
#: to ~50 ms here, so 32 scans of the largest image the default pixel limit admits (~1.6 s).
MAX_JPEG_SCAN_PIXELS = 32 * 64_000_000
#: Scans always allowed, whatever the size (above any encoder's progressive script).
MIN_JPEG_SCANS = 16
#: Memory a progressive (or multi-scan) JPEG may need to decode: the image (4 bytes a pixel, 1 for
#: grey) and the whole image's DCT coefficients (2 bytes a sample), which libjpeg keeps until the
#: last scan.  64 megapixels need 256 MB as baseline, 448 MB progressive (4:2:0), 640 MB at 4:4:4.
MAX_JPEG_DECODE_BYTES = 320 * 1024 * 1024
#: Markers (segments) the walk reads before it gives up: normal files have a few dozen.
MAX_JPEG_MARKERS = 4096
#: Bytes (never 0xFF) put where each scan's entropy-coded data ends, to see whether the decoder reads them.
FILLER = bytes(range(0x11, 0xF1))

# A marker between segments: 0xFF, then neither a stuffed 0x00 nor a fill byte 0xFF.
_MARKER = re.compile(rb"\xff[^\x00\xff]")
# The marker that ends a scan's entropy-coded data: restart markers (D0-D7) belong to the scan.
_SCAN_END = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_SOS, _EOI, _DRI = 0xDA, 0xD9, 0xDD
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT, JPG, DAC)
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_RESTARTS = tuple(bytes((0xFF, code)) for code in range(0xD0, 0xD8))
_NO_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RSTn: markers without a length


@dataclass(frozen=True)
class Frame:
    """The frame header (SOFn): size and each component's sampling factors."""

    progressive: bool
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]

    def coefficient_bytes(self) -> int:
        """libjpeg's whole-image coefficient buffer: 64 two-byte coefficients a block, per component."""
        hmax = max((h for h, _ in self.sampling), default=1) or 1
        vmax = max((v for _, v in self.sampling), default=1) or 1
        total = 0
        for h, v in self.sampling:
            columns = _ceil_div(_ceil_div(self.width * max(h, 1), hmax), 8)
            rows = _ceil_div(_ceil_div(self.height * max(v, 1), vmax), 8)
            total += columns * rows * 64 * 2
        return total

    def decode_bytes(self) -> int:
        """The decoded image (4 bytes a pixel, 1 for grey) and the coefficient buffer."""
        return self.width * self.height * (1 if len(self.sampling) == 1 else 4) + self.coefficient_bytes()


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _frame(code: int, body: bytes) -> Frame | None:
    if len(body) < 6:
        return None
    height, width, count = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"), body[5]
    sampling = tuple((body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15) for i in range(count) if 8 + 3 * i <= len(body))
    return Frame(code in _PROGRESSIVE, width, height, sampling)


@dataclass(frozen=True)
class JpegLayout:
    scans: int
    scan_ends: tuple[int, ...]  # offset where each scan's entropy-coded data ends (before fill bytes)
    end: int | None  # offset of the end-of-image marker; None: the data stops before it
    # Per scan: the restart marker a decoder would expect next, where restart intervals are on.
    next_restart: tuple[int | None, ...] = ()
    frame: Frame | None = None


def scan_limit(pixels: int) -> int:
    """The scans allowed in a JPEG of ``pixels`` pixels."""
    return max(MIN_JPEG_SCANS, min(MAX_JPEG_SCANS, MAX_JPEG_SCAN_PIXELS // max(pixels, 1)))


def walk(data: bytes, *, max_scans: int = MAX_JPEG_SCANS) -> JpegLayout:
    """The segments of the first image in ``data`` (a JPEG starting with SOI), up to its EOI.

    Raises :class:`ImageTooComplex` (422) for more than ``max_scans`` scans or
    :data:`MAX_JPEG_MARKERS` markers, :class:`InvalidInput` (400) for a segment length below 2.
    """
    scans, markers, pos, size, interval = 0, 0, 2, len(data), 0
    ends: list[int] = []
    restarts: list[int | None] = []
    frame: Frame | None = None

    def layout(end: int | None) -> JpegLayout:
        return JpegLayout(scans, tuple(ends), end, tuple(restarts), frame)

    while True:
        found = _MARKER.search(data, pos)
        if found is None:
            return layout(None)
        code, pos = data[found.end() - 1], found.end()
        markers += 1
        if markers > MAX_JPEG_MARKERS:
            raise ImageTooComplex(
                f"the JPEG holds more than {MAX_JPEG_MARKERS} segments; refused as too much work to decode"
            )
        if code == _EOI:
            return layout(found.start())
        if code in _NO_LENGTH:
            continue
        if pos + 2 > size:
            return layout(None)
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise InvalidInput(f"the JPEG data is corrupt: segment FF{code:02X} has length {length}")
        if code == _DRI and length >= 4 and pos + 4 <= size:
            interval = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if code in _SOF and frame is None:
            frame = _frame(code, data[pos + 2 : pos + length])
        pos += length
        if pos > size:
            return layout(None)
        if code != _SOS:
            continue
        scans += 1
        if scans > max_scans:
            raise ImageTooComplex(
                f"the JPEG holds more than {max_scans} scans (progressive passes, each "
                f"decoded over the whole image); refused as too much work to decode"
            )
        scan_end = _SCAN_END.search(data, pos)
        if scan_end is None:
            return layout(None)
        entropy = data[pos : scan_end.start()]
        ends.append(pos + len(entropy.rstrip(b"\xff")))  # fill bytes 0xFF before the marker stay after it
        restarts.append(0xD0 + sum(map(entropy.count, _RESTARTS)) % 8 if interval else None)
        pos = scan_end.start()


def check_complete(data: bytes, pixels: int = 0) -> JpegLayout:
    """:func:`walk` with the scan limit of an image of ``pixels``; a 400 when the data stops before its end."""
    layout = walk(data, max_scans=scan_limit(pixels))
    if layout.end is None or layout.scans == 0:
        raise InvalidInput(
            "the image could not be decoded (JPEG data is truncated or corrupt): it ends before its end-of-image marker"
        )
    frame = layout.frame
    if frame is not None and (frame.progressive or layout.scans > 1) and frame.decode_bytes() > MAX_JPEG_DECODE_BYTES:
        raise PayloadTooLarge(
            f"a progressive JPEG of {frame.width}x{frame.height} pixels needs "
            f"{frame.decode_bytes() >> 20} MiB to decode (its coefficients are kept until "
            f"the last scan), over the limit of {MAX_JPEG_DECODE_BYTES >> 20} MiB; "
            f"a baseline JPEG of this size needs less"
        )
    return layout


def padding_suspect(image: Image.Image) -> bool:
    """Whether the last pixels of a decoded JPEG are libjpeg's mid-grey padding (all 127 or 128)."""
    width, height = image.size
    corner = image.crop((max(0, width - 8), height - 1, width, height)).tobytes()
    return bool(corner) and set(corner) <= {127, 128}


def reads_past_end(data: bytes, layout: JpegLayout, small: bytes | None = None) -> bool:
    """Whether decoding ``data`` needs more entropy-coded data than it holds (see the module docstring).

    ``small``: ``data`` already decoded at 1/8 scale (``small_decode(data).tobytes()``), if at hand.
    """
    filled = bytearray(data)
    for end, restart in reversed(list(zip(layout.scan_ends, layout.next_restart, strict=True))):
        # With restart intervals on, a decoder short of data waits for the next restart marker.
        filled[end:end] = FILLER if restart is None else bytes((0xFF, restart)) + FILLER
    plain = small if small is not None else small_decode(data).tobytes()
    try:
        return small_decode(bytes(filled)).tobytes() != plain
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return True  # the filler was read as image data


def small_decode(data: bytes) -> Image.Image:
    """The image at libjpeg's 1/8 scale: every coefficient is still read, only DC values are kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()
        return image


def check_not_short(data: bytes, layout: JpegLayout, image: Image.Image | None = None) -> None:
    """A 400 when the JPEG's data ends before the image it declares.

    ``image``: the decoded image, where the caller has it; else a 1/8-scale decode is looked at.
    """
    try:
        small = None
        if image is None:
            image = small_decode(data)
            small = image.tobytes()
        short = padding_suspect(image) and reads_past_end(data, layout, small)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InvalidInput("the image could not be decoded (JPEG data is truncated or corrupt)") from error
    if short:
        raise InvalidInput(
            "the image is truncated: its JPEG data ends before the declared "
            "image size, the rest would be decoded as grey"
        )
