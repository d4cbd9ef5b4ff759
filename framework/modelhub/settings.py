"""Typed settings, loaded once: defaults, then ``MODELHUB_*`` environment variables, then flags."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from .cpus import available_cpus
from .errors import ConfigError
from .settings_http import validate_http

ENV_PREFIX = "MODELHUB_"
MIB = 1024 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # CR, LF, NUL...: never valid in a header or a URL
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

# The folder that holds framework/, contrib_src/ and init/ when the project runs from a checkout
# (editable install, Docker image); anchored to this file, never to the current directory.
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def _default_root() -> Path:
    return _CHECKOUT_ROOT


@dataclass(frozen=True)
class Settings:
    """Everything the engine can be told.  Each field is also ``MODELHUB_<NAME>``."""

    root: Path = field(default_factory=_default_root)
    contrib_dir: Path | None = None  # default: <root>/contrib_src
    model_file: Path | None = None  # explicit model file; default: the variant's file from init.json
    model_sha256: str | None = None  # expected hash of an explicit model file
    model_variant: str | None = None  # a variant named in init/init.json; default: the one marked default
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 0  # 0: one per CPU core available to the process
    intra_op_threads: int = 1  # onnxruntime threads per session
    inter_op_threads: int = 1
    request_timeout: float = 30.0  # seconds a request may take before a 504 (or wait for a worker: 503)
    graceful_timeout: float = 30.0  # seconds in-flight requests get after SIGTERM
    header_timeout: float = 10.0  # seconds a client has to send the request line and headers (then 408)
    body_timeout: float = 10.0  # seconds a body may take before it must keep up min_body_rate (then 408)
    min_body_rate: float = 16384.0  # bytes per second a request body must arrive at after body_timeout
    keepalive_timeout: float = 5.0  # seconds a kept-alive connection may idle between requests
    max_connections: int = 1000  # open connections; more are answered 503 at once
    max_upload_bytes: int = 20 * MIB
    max_image_pixels: int = 64_000_000  # checked from the image header, before decoding
    allow_origin: str = "*"  # Access-Control-Allow-Origin; empty string disables the header
    allow_url_fetch: bool = False  # GET /api/predict?fileurl= and URLs in multi-input JSON
    url_allowlist: tuple[str, ...] = ()  # host names allowed when URL fetching is on
    url_timeout: float = 10.0
    data_dir: Path | None = None  # local files named in multi-input JSON must lie under it
    output_dir: Path | None = None  # array outputs for /api/output/; default: a temporary folder
    log_level: str = "info"  # debug, info, warning, error, critical
    log_format: str = "text"  # text or json: every log line of the server (front and workers)
    access_log: bool = True  # one line per request (logger modelhub.access) from modelhub serve
    metrics: bool = True  # GET /metrics (Prometheus) and what it counts
    public_url: str = ""  # base of every absolute URL the server builds; default: taken from the request
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-* headers are applied
    allowed_hosts: tuple[str, ...] = ()  # Host header names accepted (".example.org": and subdomains); default any
    golden_dir: Path | None = None  # golden outputs (<sha256>.json); default: <contrib>/golden
    require_reproduced: bool = False  # not ready unless the pipeline reproduces the golden outputs at warm-up
    explain_max_grid: int = 14  # largest occlusion grid (N x N patches) /api/explain computes
    engine: str = "server"  # server: the single-node production server; ray: a Ray Serve application
    ray_address: str = ""  # engine ray: the cluster to join (host:port); empty: start a local Ray instance
    replicas: int = 1  # engine ray: fixed number of replicas (unless min/max_replicas set autoscaling)
    min_replicas: int = 0  # engine ray: with max_replicas, Ray Serve autoscales between the two
    max_replicas: int = 0
    replica_cpus: float = 1.0  # engine ray: CPUs per replica (its onnxruntime intra-op threads)

    @property
    def public_root(self) -> str:
        """``public_url`` ending in ``/`` ("" when unset): what ``api/...`` is appended to."""
        return self.public_url.rstrip("/") + "/" if self.public_url else ""

    @property
    def contrib_path(self) -> Path:
        return (self.contrib_dir or self.root / "contrib_src").resolve()

    def effective_workers(self) -> int:
        """``workers``, or when 0 the CPUs available: affinity mask capped by the cgroup CPU quota."""
        return self.workers if self.workers > 0 else available_cpus()


def _kind(hint: Any) -> str:
    """A short tag for a field's type: path, bool, int, float, tuple or str."""
    text = str(hint)
    for tag in ("Path", "bool", "int", "float", "tuple"):
        if tag in text:
            return tag.lower()
    return "str"


def _parse(name: str, hint: Any, raw: Any) -> Any:
    kind = _kind(hint)
    if not isinstance(raw, str):
        if kind == "tuple" and isinstance(raw, (list, tuple)):
            return tuple(str(x) for x in raw)
        if kind == "path" and raw is not None:
            return Path(raw)
        return raw
    text = raw.strip()
    try:
        if kind == "path":
            return Path(text).expanduser() if text else None
        if kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "tuple":
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if "None" in str(hint) and not text:
            return None
        return text
    except ValueError:
        raise ConfigError(f"setting {name}: cannot read {text!r} as {kind}") from None


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from defaults, then ``MODELHUB_*`` variables, then ``overrides`` (flags).

    ``None`` values in ``overrides`` mean "not given" and leave the lower layer in place.
    """
    env = os.environ if environ is None else environ
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = _parse(f.name, hints[f.name], env[key])
    for name, value in (overrides or {}).items():
        if name not in hints:
            raise ConfigError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = _parse(name, hints[name], value)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    checks = [
        (1 <= s.port <= 65535, f"port must be 1-65535, not {s.port}"),
        (s.workers >= 0, "workers must be >= 0 (0 = one per core)"),
        (s.intra_op_threads >= 0 and s.inter_op_threads >= 0, "onnxruntime thread counts must be >= 0"),
        (s.request_timeout > 0, "request_timeout must be > 0"),
        (s.graceful_timeout >= 0, "graceful_timeout must be >= 0"),
        (
            min(s.header_timeout, s.body_timeout, s.keepalive_timeout, s.min_body_rate) > 0,
            "header_timeout, body_timeout, keepalive_timeout and min_body_rate must be > 0",
        ),
        (s.max_connections >= 1, "max_connections must be >= 1"),
        (s.max_upload_bytes > 0, "max_upload_bytes must be > 0"),
        (s.max_image_pixels > 0, "max_image_pixels must be > 0"),
        (1 <= s.explain_max_grid <= 56, "explain_max_grid must be 1-56"),
        (s.log_format in ("text", "json"), f"log_format must be text or json, not {s.log_format!r}"),
        (
            s.model_sha256 is None or bool(_SHA256.fullmatch(s.model_sha256)),
            f"model_sha256 must be 64 hex digits (0-9, a-f), not {s.model_sha256!r}",
        ),
        (s.log_level.lower() in LOG_LEVELS, f"log_level must be one of {', '.join(LOG_LEVELS)}, not {s.log_level!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"invalid setting: {message}")
    _validate_text(s)
    validate_http(s)
    _validate_ray(s)


def _validate_text(s: Settings) -> None:
    """No control character (CR/LF would split a header) in any text setting."""
    for f in fields(Settings):
        value = getattr(s, f.name)
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str) and _CONTROL.search(text):
                raise ConfigError(f"invalid setting: {f.name} contains a control character (CR, LF, tab...): {text!r}")


def _validate_ray(s: Settings) -> None:
    checks = [
        (s.engine in ("server", "ray"), f"engine must be server or ray, not {s.engine!r}"),
        (s.replicas >= 1, "replicas must be >= 1"),
        (s.replica_cpus > 0, "replica_cpus must be > 0"),
        (
            (s.min_replicas, s.max_replicas) == (0, 0) or 0 <= s.min_replicas <= s.max_replicas >= 1,
            "autoscaling needs 0 <= min_replicas <= max_replicas and max_replicas >= 1",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"invalid setting: {message}")


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, type) for every setting: the README's configuration table."""
    hints = get_type_hints(Settings)
    rows = []
    for f in fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else "(checkout root)"
        rows.append((ENV_PREFIX + f.name.upper(), repr(default), _kind(hints[f.name])))
    return rows
