"""The answer a pruner gives after each reported epoch."""

from __future__ import annotations

from enum import Enum


class Decision(Enum):
    """What a trial should do after reporting an epoch.

    Examples:
        >>> Decision.STOP.value
        'stop'
        >>> Decision("continue") is Decision.CONTINUE
        True
    """

    CONTINUE = "continue"
    STOP = "stop"
