"""Filter columns by row, cached in the process: each chunk row's outlet and date as integers.

A chunk never changes its document, and new chunks only ever get higher row ids, so a store
reads each row's outlet and date once and afterwards only the rows added since. An outlet or
date filter is then a numpy mask over every row (a millisecond at 1M chunks), not an SQL
scan of the matching chunks per query. Both engines use it for their BM25 leg.
"""

from __future__ import annotations

import numpy as np

from rag.store.base import outlet_key
from rag.types import Filters


class FilterColumns:
    """Each row's outlet (as a code) and date (as its rank among the distinct dates: integer comparisons in
    string order); rows without a chunk have neither."""

    def __init__(self):
        self.outlets: dict[str, int] = {}
        self.outlet = np.zeros(0, np.int32)
        self.dates = np.zeros(0, dtype=str)  # the distinct dates, sorted
        self.date = np.zeros(0, np.int32)
        self.dated = np.zeros(0, bool)

    def __len__(self) -> int:
        """One past the highest row read: where the next catch-up starts."""
        return len(self.date)

    def catch_up(self, new: list[tuple[int, str | None, str | None]]) -> None:
        """Add ``(row, outlet key, date)`` of rows at or past ``len(self)``, in row order."""
        if not new:
            return
        grow, rows = new[-1][0] + 1 - len(self), np.array([r for r, _, _ in new])
        dates = np.array([d or "" for _, _, d in new])
        self.outlet = np.concatenate([self.outlet, np.full(grow, -1, np.int32)])
        self.outlet[rows] = [self.outlets.setdefault(o, len(self.outlets)) for _, o, _ in new]
        known = np.union1d(self.dates, dates)
        if len(known) > len(self.dates):  # new distinct dates: earlier rows' ranks move up
            self.date = np.searchsorted(known, self.dates).astype(np.int32)[self.date]
            self.dates = known
        self.date = np.concatenate([self.date, np.zeros(grow, np.int32)])
        self.date[rows] = np.searchsorted(self.dates, dates)
        self.dated = np.concatenate([self.dated, np.zeros(grow, bool)])
        self.dated[rows] = [d is not None for _, _, d in new]

    def mask(self, filters: Filters, doc_rows: list[int] | None = None) -> np.ndarray:
        """The rows ``filters`` allow, by row; ``doc_rows`` are the rows of ``filters.doc_ids`` when it is set."""
        mask = self.dated.copy() if filters.date_from or filters.date_to else np.ones(len(self), bool)
        if filters.outlet:
            mask &= self.outlet == self.outlets.get(outlet_key(filters.outlet), -1)
        if filters.date_from:
            mask &= self.date >= np.searchsorted(self.dates, filters.date_from, "left")
        if filters.date_to:
            mask &= self.date < np.searchsorted(self.dates, filters.date_to, "right")
        if filters.doc_ids is not None:
            keep = np.zeros(len(mask), bool)
            keep[[r for r in doc_rows or [] if r < len(mask)]] = True  # a row added just now: not read yet
            mask &= keep
        return mask
