"""Plain-text tables and numbers for the terminal (left-aligned text, right-aligned numbers).

Floats are shown for a person, with a few significant digits (:func:`format_number`:
``0.0275``, ``1.2e-05``, ``1234``); machine-readable output (``--json``, ``paretune trials``)
keeps full precision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["format_number", "format_table"]


def format_number(value: float, *, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, for a person to read.

    Integers (and floats that are whole numbers below 10**5) keep every digit; numbers from
    0.0001 to 10**5 are written plainly, others in scientific notation; trailing zeros go.

    Args:
        value: The number.
        digits: Significant digits (at least 1).

    Examples:
        >>> format_number(0.027534892647275325, digits=3), format_number(1.2e-05)
        ('0.0275', '1.2e-05')
        >>> format_number(47.25), format_number(1234.56), format_number(3.0), format_number(7)
        ('47.25', '1235', '3', '7')
        >>> format_number(123456789.0), format_number(float("nan")), format_number(0.0)
        ('1.235e+08', 'nan', '0')
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-4 <= magnitude < 1e5:
        decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, exponent = f"{value:.{max(0, digits - 1)}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Lay out ``rows`` under ``headers`` in aligned columns.

    Numbers (ints, floats, and quantities with a unit such as ``30.8kbit``) are
    right-aligned, everything else left-aligned; ``None`` shows as ``-``.

    Examples:
        >>> print(format_table(["name", "n"], [["adam", 3], ["sgd", 12]]))
        name   n
        ----  --
        adam   3
        sgd   12
    """
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


#: A number with its unit, as a table shows a cost: right-aligned as numbers are.
_QUANTITY = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?[a-zA-Z]+")


def _is_number(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return _QUANTITY.fullmatch(value) is not None  # 30.8kbit, 1.2ms
        return True
    return False


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_number(value)
    return str(value)
