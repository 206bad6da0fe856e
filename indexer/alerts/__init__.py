"""Job alerts: saved searches, matched against every job version a run writes, recorded once
per (saved search, job), and delivered to webhooks; and the change stream.

:mod:`.saved` (the saved searches), :mod:`.matcher` (the matching passes over what was written),
:mod:`.hook` (what a page write records before the page is acknowledged, the change stream's
events, and when the passes run), :mod:`.matches` (the matches index), :mod:`.delivery`
(webhooks), :mod:`.after_run` (delivery and retention after a run).
"""

from __future__ import annotations

from indexer.alerts.delivery import DeliveryConfig, DeliveryReport, deliver, sign, verify
from indexer.alerts.hook import WriteRecorder
from indexer.alerts.matcher import Matcher, Passes, window_query
from indexer.alerts.matches import list_matches, match_counts
from indexer.alerts.saved import SavedSearch, SavedSearchError, load_all, remove, save

__all__ = [
    "DeliveryConfig",
    "DeliveryReport",
    "Matcher",
    "Passes",
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
    "window_query",
]
