"""Commands of the ``hwbench`` command line that live in a module of their own (``cli.py`` registers them on its
typer app, one line each): parse, call the run path and the tools, print. Like ``cli.py``, they sit above
``console`` and below nothing but ``cli``."""
