"""Text from users and files made safe to print: one helper for tables, markdown and messages.

A device name, a host name, a path or a kernel name comes from a file or a command line. Printed raw, an
escape sequence in it (``ESC ] 0 ; title BEL`` sets the terminal's title, ``ESC [ 2 J`` clears the screen) acts
on the terminal, and a newline splits one message line in two. ``printable`` shows every control character as
a Python escape (``\\x1b``, ``\\n``) and leaves printable text, in any script, as it is.
"""

from __future__ import annotations

import unicodedata
from typing import Any

SHOWN = 60  # characters of a bad value shown in a one-line message


def printable(text: str) -> str:
    """``text`` with each non-printable character (str.isprintable: Unicode categories Cc, Cf, Cs, Co, Cn, Zl,
    Zp, Zs other than the space) replaced by its Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def one_line(text: str, limit: int = SHOWN) -> str:
    """``text`` made safe for a one-line message: control characters escaped, long text shortened."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any) -> str:
    """A value from a file as a message shows it: a string quoted, a whole float without its '.0', at most
    ``SHOWN`` characters."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return one_line(repr(value) if isinstance(value, str) else str(value))


def without_controls(text: str) -> str:
    """``text`` with control characters (Unicode category Cc: C0, DEL, C1) escaped and everything else kept: for
    text drawn in a picture, where a zero-width joiner or a right-to-left mark is part of the script."""
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) == "Cc" else c
                   for c in text)
