import os

import pytest
from hypothesis import settings

# CI runs hypothesis derandomized, so a submission's CI result does not depend on the examples drawn that run;
# locally the examples stay random, so repeated runs keep exploring.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow experiments")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow experiment: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
