"""hwbench: measure a machine's real FLOP/s and GB/s ceilings and write a calibrated roofline profile.

The public Python API for other tools is :class:`Profile` (``Profile.load(path)``, ``.attainable``,
``.predict_time``). The measuring code is reached through the ``hwbench`` command.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hwbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from .profile import SCHEMA_VERSION, Profile  # noqa: E402

__all__ = ["Profile", "SCHEMA_VERSION", "__version__"]
