"""Registers the shared fixtures of compat.py and the skip list hook for every docker-py check in this folder."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compat import client, name  # noqa: E402,F401
from skiplist import pytest_collection_modifyitems  # noqa: E402,F401
