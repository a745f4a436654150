"""numba's complaints about its own environment variables, as hwbench warnings.

numba reads its ``NUMBA_*`` variables when it is first imported and, for a value it cannot parse
(``NUMBA_OPT=abc``), warns with a RuntimeWarning whose text holds a whole traceback, then uses its default. The
CPU paths import numba here first, under a catch: each such warning becomes one line for the command to print.
"""

from __future__ import annotations

import warnings

_NUMBA_ENVIRONMENT = "Environment variable 'NUMBA_"


def numba_environment_notes() -> list[str]:
    """One line per ``NUMBA_*`` value numba could not parse (empty once numba is imported). Any other warning
    raised by the import is shown as Python would have shown it (the filters in force decide, as without the
    catch)."""
    with warnings.catch_warnings(record=True) as caught:
        import numba  # noqa: F401  (imported for its warnings; the kernels import it again from sys.modules)
    notes = []
    for warning in caught:
        text = str(warning.message).strip()
        if issubclass(warning.category, RuntimeWarning) and text.startswith(_NUMBA_ENVIRONMENT):
            notes.append(f"numba: {text.splitlines()[0]}")
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return notes
