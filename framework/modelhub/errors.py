"""One exception hierarchy for the engine.

Every class carries the HTTP status it maps to.  Internals raise these; only the
outermost layer (the REST error handler, the CLI) turns them into responses or
exit messages.  Messages are meant for users: they never hold tracebacks.
"""

from __future__ import annotations


class ModelHubError(Exception):
    """Base class: an error whose message can be shown to the user as is."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequest(ModelHubError):
    status = 400


class Forbidden(ModelHubError):
    status = 403


class NotFound(ModelHubError):
    status = 404


class PayloadTooLarge(ModelHubError):
    status = 413


class UnsupportedMediaType(ModelHubError):
    status = 415


class InvalidInput(BadRequest, OSError):
    """The input could not be loaded (corrupt, truncated, not decodable).

    Also an ``OSError`` so contributor code written for the original ModelHub
    loaders, which raised ``IOError``, keeps working.
    """


class ImageDimensionsError(ModelHubError, OSError):
    """The image is decodable but outside the model's ``dim_limits``."""

    status = 422


class ImageTooComplex(ModelHubError):
    """The image is within the size limits but would take too much work to decode (e.g. a JPEG scan bomb)."""

    status = 422


class ModelFailure(ModelHubError):
    """The model raised while predicting; the message hides internals."""

    status = 500


class NotReady(ModelHubError):
    status = 503


class InferenceTimeout(ModelHubError):
    status = 504


class ConfigError(ModelHubError):
    """The contributor package or the settings are unusable (a startup error)."""

    status = 500


class IntegrityError(ModelHubError):
    """A model file is missing or does not match its expected sha256."""

    status = 500
