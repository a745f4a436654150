"""The profile: hwbench's versioned output file.

- ``format``: the schema version, the JSON Schema (shipped in ``schema/``) and the check every reader applies;
- ``model``: ``Profile``, loading a profile and answering roofline questions from it;
- ``types``: every section as a type (``ProfileData`` the whole file, ``ComputeEntry``, ``MemoryLevel``, ...);
- ``files``: YAML in the profile's layout and atomic writes;
- ``build``: the one builder that turns a device-neutral measurement into a profile, for any device;
- ``sustained``: the summary of sustained-run timelines written into a profile.

Nothing here measures or imports a device session: ``hwbench.cpu``, ``hwbench.gpu`` and ``hwbench.kernels``
are out of bounds (an import-linter contract in pyproject.toml).
"""

from .format import SCHEMA_VERSION, json_schema
from .model import Profile, device_model
from .types import ProfileData

__all__ = ["Profile", "ProfileData", "SCHEMA_VERSION", "device_model", "json_schema"]
