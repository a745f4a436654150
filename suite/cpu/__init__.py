"""The CPU device: machine inspection (sysfs, SMBIOS, cpuinfo), pinning, the worker pool, the core table, and
the session that drives the kernel families (``stream``, ``fma``) through the catalog."""
