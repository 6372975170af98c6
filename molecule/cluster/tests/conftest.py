"""The test support of every scenario is in molecule/shared/flask_nginx_testing.py."""
import os
import sys

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")))
from flask_nginx_testing import tools_on_every_host  # noqa: E402,F401  (autouse: the test tools on every host)
from playbook_times import pytest_configure, pytest_terminal_summary  # noqa: E402,F401  (hooks: each run's time)
from machine_share import pytest_sessionstart  # noqa: E402,F401  (hook: quiet tests get the machine)
