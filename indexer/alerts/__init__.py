"""Job alerts: saved searches stored as percolator queries, matched against every job version a
run writes, recorded once per (saved search, job), and delivered to webhooks.

:mod:`.saved` (the saved searches), :mod:`.percolate` (matching a page of documents),
:mod:`.hook` (what a page write records, before the page is acknowledged: the change stream's
events and the matches), :mod:`.matches` (the matches index), :mod:`.delivery` (webhooks).
"""

from __future__ import annotations

from indexer.alerts.delivery import DeliveryConfig, DeliveryReport, deliver, sign, verify
from indexer.alerts.hook import WriteRecorder
from indexer.alerts.matches import list_matches, match_counts
from indexer.alerts.percolate import PERCOLATED_FIELDS, Percolator
from indexer.alerts.saved import SavedSearch, SavedSearchError, load_all, remove, save

__all__ = [
    "PERCOLATED_FIELDS",
    "DeliveryConfig",
    "DeliveryReport",
    "Percolator",
    "SavedSearch",
    "SavedSearchError",
    "WriteRecorder",
    "deliver",
    "list_matches",
    "load_all",
    "match_counts",
    "remove",
    "save",
    "sign",
    "verify",
]
