"""The built-in page in a real browser: Debian's chromium driven by Playwright, real server, real int8 model.

Screenshots are saved to ``<repo>/artifacts/screenshots/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.server]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CAT_PHOTO = REPO_ROOT / "contrib_src" / "sample_data" / "cat_chelsea.png"
CAT_CLASSES = (
    "Egyptian cat",
    "tabby, tabby cat",
    "tiger cat",
    "Persian cat",
    "Siamese cat, Siamese",
    "lynx, catamount",
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Any) -> Iterator[Any]:
    """A fresh chromium profile per test: no cache, no state from another test."""
    with tempfile.TemporaryDirectory(prefix="modelhub-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=shutil.which("chromium"),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
            device_scale_factor=1,
            locale="en-GB",
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def server(start_server, int8_model: Path) -> Any:
    return start_server("--model-file", str(int8_model), "--workers", "1")


class Page:
    """One open page, recording script errors and every URL it requested."""

    def __init__(self, context: Any, url: str) -> None:
        self.url = url
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='true']")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def chart(self) -> list[tuple[str, float]]:
        self.page.wait_for_selector("#result:not([hidden]) #chart .bar-row")
        rows = self.page.locator("#chart .bar-row")
        return [
            (rows.nth(i).get_attribute("data-label") or "", float(rows.nth(i).get_attribute("data-probability")))
            for i in range(rows.count())
        ]

    def wait_idle(self) -> None:
        self.page.wait_for_selector("#busy", state="hidden")

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 1000
        return path

    def check_clean(self) -> None:
        assert not self.errors, self.errors
        foreign = [url for url in self.requests if not url.startswith((self.url, "blob:", "data:"))]
        assert not foreign, f"the page loaded something from elsewhere: {foreign}"


def _wait_until(page: Any, function: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll a JavaScript function with ``evaluate`` (``wait_for_function`` would need ``eval``, which the
    page's Content-Security-Policy forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(function):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {function}")
        time.sleep(0.05)


def _rotated_cat_jpeg() -> bytes:
    """The cat stored on its side (portrait) with EXIF orientation 6: upright only if orientation is applied."""
    from PIL import Image

    upright = Image.open(CAT_PHOTO).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def test_model_card(browser: Any, server: Any) -> None:
    page = Page(browser, server.url + "/")
    p = page.page
    assert p.title().startswith("mobilenet")
    assert p.locator("#model-name").inner_text() == "mobilenet"
    assert "Classification" in (p.locator("#model-task").text_content() or "")
    assert "MobileNetV2" in p.locator("#model-description").inner_text()
    assert p.locator("#pub-title").inner_text() == "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
    assert "Mark Sandler" in p.locator("#pub-authors").inner_text()
    assert "2018" in p.locator("#pub-authors").inner_text()
    assert p.locator("#pub-links a", has_text="Paper").get_attribute("href") == "https://arxiv.org/abs/1801.04381"
    p.locator("#bibtex-box summary").click()
    assert p.locator("#bibtex").inner_text().startswith("@inproceedings{sandler2018mobilenetv2")
    assert p.locator("#copy-bibtex").is_visible()
    p.locator("#copy-bibtex").click()
    p.wait_for_selector("#copy-status:not(:empty)")
    # the model file in use; the shared test model is not one of init.json's files, so it is unverified
    assert p.locator("#model-file-name").inner_text() == "mobilenetv2-12-int8.onnx"
    sha = p.locator("#model-file-sha256").inner_text()
    assert len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
    config = p.evaluate("fetch('api/get_config').then(r => r.json())")
    file_info = config["model"]["file"]
    assert sha == file_info["sha256"]
    if file_info["verified"]:
        assert p.locator("#model-file-verified").inner_text().startswith("verified")
        assert p.locator("#unverified-banner").is_hidden()
    else:
        assert "UNVERIFIED" in p.locator("#model-file-verified").inner_text().upper()
        assert p.locator("#unverified-banner").is_visible() and p.locator("#unverified-badge").is_visible()
    # licences: model, sample data, engine
    summaries = p.locator("#licences summary").all_inner_texts()
    assert {"Model", "Sample data", "Engine (ModelHub)"} <= set(summaries), summaries
    p.locator("#licences summary", has_text="Sample data").click()
    assert "cat_chelsea.png" in p.locator("#licences details[open] pre").inner_text()
    assert p.locator("#gallery .sample").count() == 6
    page.screenshot("desktop-model-card.png")
    page.check_clean()


def test_sample_click_shows_its_top_class(browser: Any, server: Any) -> None:
    page = Page(browser, server.url + "/")
    p = page.page
    p.locator("#gallery .sample[data-filename='cat_chelsea.png']").click()
    chart = page.chart()
    assert len(chart) == 5  # config.modelhub.top
    assert chart[0][0] in CAT_CLASSES, chart
    assert [prob for _, prob in chart] == sorted((prob for _, prob in chart), reverse=True)
    top_row = p.locator("#chart .bar-row").first
    assert top_row.locator(".bar-label").inner_text() == chart[0][0]
    assert top_row.locator(".bar-value").inner_text().endswith("%")
    assert "ms on the server" in p.locator("#processing-time").inner_text()
    assert p.locator("#preview-image").get_attribute("src").endswith("api/samples/cat_chelsea.png")
    # a second sample replaces the result
    p.locator("#gallery .sample[data-filename='rocket_falcon9_launch.jpg']").click()
    p.locator("#preview-caption", has_text="rocket_falcon9_launch.jpg").wait_for()
    p.wait_for_selector(f'#chart .bar-row:first-child:not([data-label="{chart[0][0]}"])')
    page.wait_idle()
    rocket = page.chart()
    assert any(word in rocket[0][0] for word in ("missile", "projectile", "space shuttle", "rocket")), rocket
    page.screenshot("desktop-sample.png")
    page.check_clean()


def test_keyboard_only(browser: Any, server: Any) -> None:
    """The gallery is reachable with Tab and runs with Enter; the focus is visible."""
    page = Page(browser, server.url + "/")
    p = page.page
    for _ in range(30):
        p.keyboard.press("Tab")
        if p.evaluate("document.activeElement.dataset.filename || ''") == "cat_chelsea.png":
            break
    else:
        pytest.fail("the cat sample cannot be reached with Tab")
    outline = p.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    p.keyboard.press("Enter")
    assert page.chart()[0][0] in CAT_CLASSES
    assert p.locator(".sample[aria-pressed='true']").get_attribute("data-filename") == "cat_chelsea.png"
    page.check_clean()


def test_upload_cat_photo_with_exif_orientation(browser: Any, server: Any) -> None:
    page = Page(browser, server.url + "/")
    p = page.page
    p.set_input_files(
        "#file-input", files=[{"name": "cat-sideways.jpg", "mimeType": "image/jpeg", "buffer": _rotated_cat_jpeg()}]
    )
    chart = page.chart()
    assert chart[0][0] in CAT_CLASSES, chart
    # shown as uploaded, upright: stored 300x451 (portrait), displayed 451x300 after EXIF orientation
    _wait_until(
        p,
        "() => { const img = document.getElementById('preview-image'); return img.complete && img.naturalWidth > 0; }",
    )
    width, height = p.evaluate(
        "(() => { const r = document.getElementById('preview-image').getBoundingClientRect();"
        " return [r.width, r.height]; })()"
    )
    assert width > height, (width, height)
    assert p.locator("#preview-image").get_attribute("src").startswith("blob:")
    assert "cat-sideways.jpg" in p.locator("#preview-caption").inner_text()
    assert p.locator("#error").is_hidden()
    page.screenshot("desktop-upload-cat.png")
    page.check_clean()


def test_drop_and_paste(browser: Any, server: Any) -> None:
    page = Page(browser, server.url + "/")
    p = page.page
    make_file = (
        "async (name) => { const blob = await (await fetch('api/samples/cat_chelsea.png')).blob();"
        " const data = new DataTransfer(); data.items.add(new File([blob], name, {type: 'image/png'}));"
        " return data; }"
    )
    data = p.evaluate_handle(make_file, "dropped-cat.png")
    p.dispatch_event("#dropzone", "drop", {"dataTransfer": data})
    assert page.chart()[0][0] in CAT_CLASSES
    assert "dropped-cat.png" in p.locator("#preview-caption").inner_text()
    page.wait_idle()
    p.evaluate(
        "async () => { const blob = await (await fetch('api/samples/cat_chelsea.png')).blob();"
        " const data = new DataTransfer(); data.items.add(new File([blob], 'pasted.png', {type: 'image/png'}));"
        " document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true})); }"
    )
    p.locator("#preview-caption", has_text="pasted.png").wait_for()
    page.wait_idle()
    assert page.chart()[0][0] in CAT_CLASSES
    page.check_clean()


def test_upload_text_file_shows_the_error(browser: Any, server: Any) -> None:
    page = Page(browser, server.url + "/")
    p = page.page
    p.set_input_files(
        "#file-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"this is not a photo\n"}]
    )
    error = p.locator("#error")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "unsupported file type" in text.lower() and "image/jpeg" in text, text
    assert p.locator("#result").is_hidden()
    assert "notes.txt" in p.locator("#preview-caption").inner_text()
    page.screenshot("desktop-upload-error.png", full_page=False)
    # an error from a label or a filename is text, never markup
    assert p.locator("#error script, #error img").count() == 0
    page.errors = [e for e in page.errors if "415" not in e]  # the browser logs the failed request itself
    page.check_clean()


def test_phone_width(browser: Any, server: Any) -> None:
    page = Page(browser, server.url + "/")
    p = page.page
    p.set_viewport_size(PHONE)
    page.screenshot("phone-start.png", full_page=False)
    p.locator("#gallery .sample[data-filename='cat_chelsea.png']").click()
    assert page.chart()[0][0] in CAT_CLASSES
    p.wait_for_timeout(500)  # the smooth scroll to the result
    assert p.locator("#chart").is_visible()
    overflow = p.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    page.screenshot("phone-result.png", full_page=False)
    page.screenshot("phone-full.png")
    page.check_clean()


def test_the_api_docs_render_offline(browser: Any, server: Any) -> None:
    """/docs (Swagger UI, vendored) lists every operation of /openapi.json, loading nothing from elsewhere."""
    page = browser.new_page()
    errors: list[str] = []
    requested: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    operations = page.locator(".swagger-ui .opblock").count()
    document = page.evaluate("() => fetch('openapi.json').then(r => r.json())")
    assert operations == sum(len(item) for item in document["paths"].values())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "docs.png"), full_page=False)
    assert not errors, errors
    assert all(url.startswith((server.url, "data:", "blob:")) for url in requested), requested
