"""Foundation tests use the shared ``api`` fixture (tests/conftest.py)."""

from tests.support.api import PREFIX, Api

__all__ = ["PREFIX", "Api"]
