"""Flask JSON provider that encodes with :mod:`modelhub.fastjson` (orjson when installed)."""

from __future__ import annotations

from typing import Any, cast

from flask import Response
from flask.json.provider import DefaultJSONProvider

from modelhub import fastjson

from .replies import json_body


class FastJSONProvider(DefaultJSONProvider):
    """Compact UTF-8 JSON, keys in insertion order; Flask's own rules for dates, dataclasses, UUIDs."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # explicit json.dumps options: the standard library honours them
            return super().dumps(obj, **kwargs)
        return fastjson.dumps(obj, default=self.default).decode("utf-8")

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        if self.compact is False or (self.compact is None and self._app.debug):
            return cast(Response, super().response(obj))
        body = json_body(obj, default=self.default)
        return cast(Response, self._app.response_class(body, mimetype=self.mimetype))  # type: ignore[arg-type]
