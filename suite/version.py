"""hwbench's version, from the installed distribution's metadata (at the bottom of the layers: anyone may read it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hwbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
