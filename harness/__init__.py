"""subterra's evaluation harness: the core: procedures, scenarios, models, conditions, the simulated user, judges, statistics, cost."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("subterra")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
