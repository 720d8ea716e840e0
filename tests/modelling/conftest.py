"""Training tests need the optional `train` extra: missing, it fails the run under CI=true and skips elsewhere."""

import pytest

from app.modelling import INSTALL_HINT, torch_available
from tests.conftest import IN_CI


def require_torch() -> None:
    if torch_available():
        return
    if IN_CI:
        pytest.fail(f"torch is not installed ({INSTALL_HINT}) - CI requires it", pytrace=False)
    pytest.skip(f"torch is not installed ({INSTALL_HINT})")
