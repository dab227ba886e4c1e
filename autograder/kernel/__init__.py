"""Code that runs inside the sandbox: the in-kernel guard that protects the test cells, and the fork server."""
