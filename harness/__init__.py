"""subterra's evaluation harness: procedures, models, conditions, judges, reports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("subterra")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
