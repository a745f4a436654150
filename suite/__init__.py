"""hwbench: measure a machine's real FLOP/s and GB/s ceilings and write a calibrated roofline profile.

The public Python API for other tools is :class:`Profile` (``Profile.load(path)``, ``.attainable``,
``.predict_time``). The measuring code is reached through the ``hwbench`` command.

``Profile``, ``SCHEMA_VERSION`` and ``__version__`` are imported on first use, so that the console entry
point (``hwbench.__main__``) starts with nothing imported and can turn an early Ctrl-C into one line.
"""

__all__ = ["Profile", "SCHEMA_VERSION", "__version__"]


def __getattr__(name: str):
    if name in ("Profile", "SCHEMA_VERSION"):
        from . import profile

        return getattr(profile, name)
    if name == "__version__":
        from .version import __version__

        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
