"""Many devices, many ranks: the mechanics ``hwbench run`` (``hwbench.run.path``) calls when it measures more than
one device or runs as a rank of a job.

* ``job``: who this process is in a Slurm job or an MPI launch (environment variables only);
* ``naming``: one profile file per host, device (and rank where ranks share both), so no two ranks write one file;
* ``sync``: the step barrier that makes devices (threads) and ranks (MPI) start each kernel together;
* ``devices``: ``--device cuda:all`` / ``all``: one session per device, concurrently or one at a time;
* ``osu``: MPI ping-pong latency and bandwidth, the OSU micro-benchmarks' method;
* ``mpi``: ``--mpi``: the barrier, each local rank's CPU share, the interconnect, and rank 0's gather.

Layers: below the run path (which plans, writes and prints) and above ``run.device`` (each device's session
and profile); cpu/ and gpu/ never import this package (they see only the progress callback that ``sync``
wraps) nor mpi4py (a pyproject contract).

hwbench writes no launcher and no network layer: Slurm (``srun``) or MPI (``mpiexec``) starts the ranks,
mpi4py and NCCL (through CuPy) move the bytes.
"""
