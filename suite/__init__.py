"""hwbench: measure a machine's real FLOP/s and GB/s ceilings and write a calibrated roofline profile.

The public Python API for other tools is :class:`Profile` (``Profile.load(path)``, ``.attainable``,
``.predict_time``). The measuring code is reached through the ``hwbench`` command.
"""

from .profile import SCHEMA_VERSION, Profile
from .version import __version__

__all__ = ["Profile", "SCHEMA_VERSION", "__version__"]
