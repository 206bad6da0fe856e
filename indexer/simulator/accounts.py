"""What the simulator counts (requests by path and status, jobs served) and charges (a wallet
of credits, or a subscription under which feed pages are free), as the real API does."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from indexer.simulator.wire import BadRequestError


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.jobs_served = 0
        self.malformed_served = 0
        self.expired_ids_served = 0

    def count(self, path: str, status: int) -> None:
        with self._lock:
            self.requests[path][str(status)] += 1

    def add(self, *, jobs: int = 0, malformed: int = 0, expired_ids: int = 0) -> None:
        with self._lock:
            self.jobs_served += jobs
            self.malformed_served += malformed
            self.expired_ids_served += expired_ids

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {path: dict(counts) for path, counts in self.requests.items()},
                "jobs_served": self.jobs_served,
                "malformed_jobs_served": self.malformed_served,
                "expired_ids_served": self.expired_ids_served,
            }


class Wallet:
    """Credits for key holders without a Feed subscription."""

    def __init__(self, credits: float | None, subscription: bool) -> None:
        self.subscription = subscription
        self.balance = credits
        self.spent = 0.0
        self._lock = threading.Lock()

    def charge(self, cost: float) -> tuple[bool, float | None]:
        """Deduct ``cost`` if it can be paid; ``(paid, balance)``."""
        with self._lock:
            if self.subscription or self.balance is None:
                return True, None
            if cost > self.balance:
                return False, self.balance
            self.balance -= cost
            self.spent += cost
            return True, self.balance

    def configure(self, body: Mapping[str, Any]) -> None:
        """Apply a ``POST /_sim/wallet`` body: ``balance`` (set a pay-as-you-go wallet), ``add``
        (top up), ``subscription`` (true: pages become free; false needs a balance)."""
        unknown = sorted(set(body) - {"balance", "add", "subscription"})
        if unknown:
            raise BadRequestError(
                f"unknown wallet fields {unknown}; use add, balance or subscription"
            )
        for name in ("balance", "add"):
            value = body.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise BadRequestError(f"'{name}' must be a number >= 0, got {value!r}")
        subscription = body.get("subscription")
        if subscription is not None and not isinstance(subscription, bool):
            raise BadRequestError(f"'subscription' must be a boolean, got {subscription!r}")
        with self._lock:
            balance = self.balance
            if subscription is False and balance is None and body.get("balance") is None:
                raise BadRequestError("leaving the subscription needs a 'balance', e.g. 1000")
            if body.get("balance") is not None:
                balance = float(body["balance"])
            if body.get("add") is not None:
                balance = (balance or 0.0) + float(body["add"])
            if subscription is not None:
                self.subscription = subscription
            elif body.get("balance") is not None:
                self.subscription = False
            self.balance = None if self.subscription else balance

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "subscription": self.subscription,
                "balance": self.balance,
                "spent": self.spent,
            }
