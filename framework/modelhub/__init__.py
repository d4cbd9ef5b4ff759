"""The ModelHub serving engine: settings, errors, loading of contributor packages, runtime and CLI."""

__version__ = "1.0.0"
