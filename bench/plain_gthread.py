"""``modelhub`` with gunicorn's plain ``gthread`` worker instead of ``modelhubserve.worker.ServingWorker``.

For measuring what the serving worker (connection balancing, back-to-back requests) still pays:
``MODELHUB_BENCH_WORKER=gthread python bench/run.py`` makes ``server.py`` start the server through this.
"""

import sys

import modelhubserve.gunicorn_app as gunicorn_app
from modelhubserve.cli import main

gunicorn_app.ServingWorker = "gthread"  # type: ignore[assignment,misc]
sys.exit(main())
