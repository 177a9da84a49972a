"""Fault injection for the daemon tests (a plug-in loaded through sitecustomize; never shipped)."""
