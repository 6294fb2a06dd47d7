"""Study files, the wiring of space + trainer + search, and the ``paretune`` CLI."""

from __future__ import annotations

__all__: list[str] = []
