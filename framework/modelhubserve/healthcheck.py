"""``python -m modelhubserve.healthcheck``: the Docker image's HEALTHCHECK.

Exit 0 when the server of this container answers ``GET /v2/health/ready`` with 200, else 1.  The address
comes from the same settings as the server's (``MODELHUB_HOST``, ``MODELHUB_PORT``), so that
``docker run -e MODELHUB_PORT=8080`` is probed on 8080; a wildcard host is probed on loopback.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from modelhub.errors import ModelHubError
from modelhub.settings import Settings, load_settings

READY_PATH = "/v2/health/ready"
TIMEOUT = 4.0  # seconds; the image's HEALTHCHECK gives the command 5


def probe_url(settings: Settings) -> str:
    """The readiness URL of a server started with ``settings``."""
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{READY_PATH}"


def check(url: str, timeout: float = TIMEOUT) -> tuple[bool, str]:
    """(ready, one line saying why) for one GET of ``url``; proxies are never used."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"{url}: {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        return False, f"{url}: {reason}"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    del argv  # no options: everything comes from the MODELHUB_* environment, as for the server
    try:
        url = probe_url(load_settings({}, environ))
    except ModelHubError as error:
        sys.stderr.write(f"healthcheck: {error.message}\n")
        return 1
    ready, line = check(url)
    sys.stdout.write(("ready: " if ready else "not ready: ") + line + "\n")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
