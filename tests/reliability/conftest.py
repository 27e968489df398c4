"""The reliability suite runs real `opsconsole serve` processes: the `site` fixture of
the serve tests (tests/serve/conftest.py) is shared here."""

from tests.serve.conftest import site

__all__ = ["site"]
