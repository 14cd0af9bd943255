"""Registers the skip list hook (compat-tests/skiplist.py) for the testcontainers checks."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skiplist import pytest_collection_modifyitems  # noqa: E402,F401
