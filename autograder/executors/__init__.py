"""Where students are graded: the local pool of long-lived worker processes (``local``), or a
Dask distributed cluster (``dask``, with what a task carries in ``remote``)."""
