"""Loading a contributor package's ``inference.Model``.

Packages written for the original ModelHub engine import their sibling modules by
name and open ``model/...`` by relative path, because that engine ran them from the
package folder with the folder on ``sys.path``.  The engine accommodates them here:
the folder goes on ``sys.path`` and the working directory is the package folder while
the model is imported and built (and, for such legacy models, while it infers; see
:mod:`modelhub.legacy`).  Our own code never depends on the working directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .contract import implements_contract
from .errors import ConfigError

log = logging.getLogger(__name__)

_CWD_LOCK = threading.RLock()  # the working directory is process-wide


@contextlib.contextmanager
def in_package_dir(contrib_dir: Path) -> Iterator[None]:
    """Run with the package folder as working directory (serialised: the cwd is process-wide)."""
    with _CWD_LOCK:
        previous = os.getcwd()
        os.chdir(contrib_dir)
        try:
            yield
        finally:
            os.chdir(previous)


def _import_inference(contrib_dir: Path) -> Any:
    path = contrib_dir / "inference.py"
    if not path.is_file():
        raise ConfigError(f"{path}: the contributor package has no inference.py")
    folder = str(contrib_dir)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    # A module of a sibling's name loaded from elsewhere (another package, a test) must not stand in for it.
    shadowed: dict[str, Any] = {}
    for entry in contrib_dir.iterdir():
        mod = entry.stem if entry.suffix == ".py" else entry.name if (entry / "__init__.py").is_file() else ""
        loaded = sys.modules.get(mod) if mod else None
        if loaded is not None and not (getattr(loaded, "__file__", None) or "").startswith(folder + os.sep):
            shadowed[mod] = sys.modules.pop(mod)
    before = set(sys.modules)
    # A unique module name, so that several packages can be loaded in one process (tests).
    name = f"modelhub_contrib_{abs(hash(folder)):x}.inference"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        # Forget sibling modules imported by this package, so another package with a
        # module of the same name (processing.py, ...) gets its own.
        for mod_name in set(sys.modules) - before:
            mod_file = getattr(sys.modules[mod_name], "__file__", None) or ""
            if mod_file.startswith(folder + os.sep):
                del sys.modules[mod_name]
        for mod_name, hidden in shadowed.items():
            sys.modules.setdefault(mod_name, hidden)
        sys.path.remove(folder)
        sys.path.append(folder)  # still reachable for late imports, after the engine's own modules
    return module


def load_model(
    contrib_dir: Path | str, *, model_file: Path | str | None = None, settings: Any = None, class_name: str = "Model"
) -> Any:
    """Import the package's ``inference.<class_name>`` and build it.

    Keyword arguments the class accepts (``model_file``, ``settings``) are passed; a
    class written for the original engine is built with no arguments.  Any failure is
    a :class:`ConfigError` that names the package; the traceback goes to the log.
    """
    contrib_dir = Path(contrib_dir).resolve()
    if model_file is not None:
        model_file = Path(model_file).resolve()  # the caller's relative path, before the cwd changes
    try:
        with in_package_dir(contrib_dir):
            module = _import_inference(contrib_dir)
            cls = getattr(module, class_name, None)
            if cls is None:
                raise ConfigError(f"{contrib_dir}/inference.py defines no class {class_name}")
            params = inspect.signature(cls.__init__).parameters
            offered = {"model_file": model_file, "settings": settings}
            kwargs = {k: v for k, v in offered.items() if k in params and v is not None}
            model = cls(**kwargs)
    except ConfigError:
        raise
    except Exception as error:
        log.exception("the contributor model in %s failed to load", contrib_dir)
        raise ConfigError(
            f"the contributor model in {contrib_dir} failed to load: {type(error).__name__}: {error}"
        ) from error
    if not callable(getattr(model, "infer", None)) and not implements_contract(model):
        raise ConfigError(f"{contrib_dir}: {class_name} has neither infer() nor the batch contract")
    return model
