"""Registers the shared fixtures of compat.py for every docker-py check in this folder."""

from compat import client, name  # noqa: F401
