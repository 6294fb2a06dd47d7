"""``python -m paretune.studies``: the ``paretune`` command."""

from __future__ import annotations

from paretune.studies._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
