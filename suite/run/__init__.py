"""``hwbench run``'s path, for one device, several and the ranks of an MPI job: ``path`` (plan, measure, write,
print), ``plan`` (which devices, which files: everything checked before anything is measured), ``output`` (the
one writer and printer), ``device`` (one device's session and its profile: the run path's one call into
``cpu/`` and ``gpu/``).

Layers: ``path``, ``plan`` and ``output`` sit above ``hwbench.cluster`` (which they call for several devices and
for ``--mpi``), ``device`` below it (``cluster.devices`` measures each device through it). This file imports
nothing, so importing ``run.device`` never loads the rest.
"""
