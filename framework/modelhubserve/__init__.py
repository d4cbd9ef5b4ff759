"""Serving: the ``modelhub`` command and the production server that runs the REST app."""
