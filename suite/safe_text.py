"""Text from users and files made safe to print: one helper for tables, markdown and messages.

A device name, a host name, a path or a kernel name comes from a file or a command line. Printed raw, an
escape sequence in it (``ESC ] 0 ; title BEL`` sets the terminal's title, ``ESC [ 2 J`` clears the screen) acts
on the terminal, and a newline splits one message line in two. ``printable`` shows every control character as
a Python escape (``\\x1b``, ``\\n``) and leaves printable text, in any script, as it is.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with each non-printable character (str.isprintable: Unicode categories Cc, Cf, Cs, Co, Cn, Zl,
    Zp, Zs other than the space) replaced by its Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
