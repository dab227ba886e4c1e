"""Student-side and class-side set-up: the `make lab` workspace (and, later, the JupyterHub class)."""
