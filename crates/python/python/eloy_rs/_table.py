"""Catalog.to_table(): rows of dicts as an astropy Table (astropy imported only here)."""

from __future__ import annotations

from typing import Any


def frames_table(rows: list[dict[str, Any]]):
    """An astropy ``Table`` from a list of dicts with the same keys.

    Columns keep the keys' order. A column whose values are all numbers (or all strings,
    or all dates) holds them; ``None`` entries are masked. Values that are dicts or lists
    (``kind_source``, ``shape``) are kept as objects.

    Parameters
    ----------
    rows : list of dict
        One dict per row, as ``Catalog.frames`` gives.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    ImportError
        astropy is not installed.
    """
    try:
        from astropy.table import Column, MaskedColumn, Table
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Catalog.to_table() needs astropy: pip install astropy (or use Catalog.frames, "
            "a list of dicts)"
        ) from e
    import datetime

    import numpy as np

    names: list[str] = []
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    table = Table()
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        mask = [v is None for v in values]
        if not present:
            # nothing known (no FILTER in any header, say): an empty, fully masked column
            fill, dtype = "", str
        elif all(isinstance(v, bool) for v in present):
            fill, dtype = False, bool
        elif all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in present
        ):
            is_int = all(isinstance(v, int) for v in present)
            fill, dtype = (0, np.int64) if is_int else (np.nan, np.float64)
        elif (
            not any(mask)
            and all(isinstance(v, tuple) and len(v) == len(present[0]) for v in present)
            and all(isinstance(x, int) for v in present for x in v)
        ):
            # (rows, columns): a two-wide integer column
            table[name] = Column(np.array(values, dtype=np.int64), name=name)
            continue
        elif all(isinstance(v, str) for v in present):
            fill, dtype = "", str
        elif all(isinstance(v, (datetime.date, datetime.datetime)) for v in present):
            values = [v.isoformat() if v is not None else "" for v in values]
            fill, dtype = "", str
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            table[name] = Column(column, name=name)
            continue
        data = np.array([fill if v is None else v for v in values], dtype=dtype)
        if any(mask):
            table[name] = MaskedColumn(data, name=name, mask=mask)
        else:
            table[name] = Column(data, name=name)
    return table
