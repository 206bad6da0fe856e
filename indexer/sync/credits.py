"""Credits: what one run may spend, and whether a full scan can be paid for before it starts.

Pricing, as the feed reports it
    Pay-as-you-go keys pay 0.5 credits per delivered job; a page's ``X-Credits-Deducted`` says
    what it cost and ``X-Credits-Balance`` what is left. On a Feed subscription pages are free:
    they come with ``X-Credits-Deducted: 0`` and no balance. Failed requests (4xx/5xx) cost
    nothing. A page that delivered jobs for nothing is how a run learns it is on a subscription.

The meter (one per run)
    ``CreditMeter`` counts what fetched pages cost when they arrive (a page is paid for whether
    or not its write succeeds later) and tells the fetch loop whether it may ask for the next
    page: a page costs at most ``batch_size x 0.5``, and a continuation cursor carries its scan's
    batch size, so the last page of a capped run cannot be made smaller. The run stops *before*
    the page that could take it over ``--max-credits``; what it fetched is written and
    checkpointed, and the next run resumes there.

The estimate
    Before a full scan (backfill, resync, the automatic re-sync), one page of one job gives the
    feed's ``estimated_total`` and a fresh balance. That probe costs 0.5 credits on a wallet
    (nothing on a subscription); it is counted in the run's spend and cap, and its job is
    fetched again by the scan. A resumed scan only needs the jobs it has not fetched yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from indexer.errors import ExitCode, SyncError
from indexer.feed import FeedPage, FeedRequest, JoboClient

log = logging.getLogger("indexer.sync")

PRICE_PER_JOB = 0.5  # credits per delivered job without a Feed subscription
# Float sums of halves are exact, but a cap given as e.g. 0.1 steps is not: allow rounding.
_EPSILON = 1e-9


class PricedPage(Protocol):
    """What the meter reads from a feed page."""

    @property
    def jobs(self) -> list[dict[str, object]]: ...

    @property
    def credits_deducted(self) -> float | None: ...

    @property
    def credits_balance(self) -> float | None: ...


class CreditsShortError(SyncError):
    """A full scan was refused before it began: the wallet cannot pay for it."""

    exit_code = ExitCode.UPSTREAM_REFUSED
    outcome = "refused"


def credits_text(value: float) -> str:
    """``300``, ``0.5``, ``12.25``: credits as an operator reads them."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


@dataclass
class CreditMeter:
    """What one run has spent, against its cap (None: no cap)."""

    cap: float | None = None
    spent: float = 0.0
    balance: float | None = None
    subscription: bool | None = None  # None until a page that delivered jobs tells
    capped: bool = False  # the run stopped before a page the cap could not pay for
    full_scan_jobs: int | None = None  # the feed's estimated_total, from a probe page

    def record(self, page: PricedPage) -> None:
        """Count a fetched page's cost and what it says about the plan."""
        deducted = page.credits_deducted or 0.0
        self.spent += deducted
        if page.credits_balance is not None:
            self.balance = page.credits_balance
        if page.jobs and page.credits_deducted is not None:
            self.subscription = deducted == 0 and page.credits_balance is None

    def worst_case(self, batch_size: int) -> float:
        """The most the next page can cost: nothing once the run has seen free pages."""
        return 0.0 if self.subscription else batch_size * PRICE_PER_JOB

    def allows(self, batch_size: int) -> bool:
        """Whether a page of ``batch_size`` jobs fits in what is left of the cap."""
        if self.cap is None:
            return True
        return self.spent + self.worst_case(batch_size) <= self.cap + _EPSILON

    def left(self) -> float | None:
        return None if self.cap is None else max(0.0, self.cap - self.spent)


@dataclass(frozen=True)
class ScanEstimate:
    """What a full scan is expected to cost, from the probe page."""

    kind: str
    total_jobs: int | None  # the feed's estimated_total (None: the feed did not say)
    done_jobs: int  # already fetched by the scan this run resumes
    balance: float | None
    subscription: bool

    @property
    def remaining_jobs(self) -> int | None:
        return None if self.total_jobs is None else max(0, self.total_jobs - self.done_jobs)

    @property
    def cost(self) -> float | None:
        """Credits the rest of the scan needs (0 on a subscription, None when unknown)."""
        if self.subscription:
            return 0.0
        remaining = self.remaining_jobs
        return None if remaining is None else remaining * PRICE_PER_JOB

    @property
    def affordable(self) -> bool:
        """False only when the feed's own numbers say the wallet cannot finish the scan."""
        cost = self.cost
        return cost is None or self.balance is None or cost <= self.balance + _EPSILON

    def describe(self) -> str:
        if self.subscription:
            return f"{self.kind}: on a Feed subscription, the scan is free"
        if self.cost is None:
            return f"{self.kind}: the feed gave no estimated_total; the cost is unknown"
        resumed = f" (resuming after {self.done_jobs:,})" if self.done_jobs else ""
        balance = "unknown" if self.balance is None else credits_text(self.balance)
        return (
            f"{self.kind}: about {self.remaining_jobs:,} jobs to fetch{resumed} x "
            f"{credits_text(PRICE_PER_JOB)} = {credits_text(self.cost)} credits; "
            f"balance {balance}"
        )

    def refusal(self, *, partial_hint: bool) -> CreditsShortError:
        """The error that stops a scan the wallet cannot finish, saying what to do."""
        cost, balance = self.cost or 0.0, self.balance or 0.0
        advice = (
            f"top up at least {credits_text(cost - balance)} credits or use a key with a Feed "
            f"subscription, then run again"
        )
        if partial_hint:
            advice += (
                "; or rerun with --allow-partial to fetch what the wallet pays for now and "
                "resume from the checkpoint after a top-up"
            )
        elif self.kind == "resync":
            advice += "; a partial re-sync would expire nothing, so none was started"
        return CreditsShortError(
            f"{self.kind} refused: the full scan needs about {credits_text(cost)} credits "
            f"({self.remaining_jobs:,} jobs x {credits_text(PRICE_PER_JOB)}) but the wallet holds "
            f"{credits_text(balance)}; only the 1-job estimate was fetched. To proceed, {advice}"
        )


def next_full_scan(credits_doc: Mapping[str, Any], active: int | None) -> dict[str, Any]:
    """The estimated size and cost of the next full scan, from the ``credits`` state document:
    the feed's last estimate, else the index's active count; free on a subscription."""
    jobs, source = credits_doc.get("full_scan_jobs"), "feed estimate"
    if jobs is None:
        jobs, source = active, "active jobs in the index"
    cost: float | None = None
    if jobs is not None:
        cost = 0.0 if credits_doc.get("subscription") else jobs * PRICE_PER_JOB
    return {
        "jobs": jobs,
        "credits": cost,
        "source": source if jobs is not None else None,
        "estimated_at": credits_doc.get("estimated_at"),
    }


def probe(jobo: JoboClient, meter: CreditMeter) -> FeedPage:
    """One page of one job: the feed's estimated size, the balance and the plan, for at most
    0.5 credits (counted like any page). Its job is fetched again by the scan that follows."""
    page = jobo.feed_page(FeedRequest(batch_size=1))
    meter.record(page)
    if page.estimated_total is not None:
        meter.full_scan_jobs = page.estimated_total
    return page


def may_fetch(jobo: JoboClient, meter: CreditMeter, batch_size: int, label: str) -> bool:
    """Whether the run's cap pays for the next page (asked before every page). A run that has
    not seen a page yet does not know whether pages are free: when a full page would not fit,
    a 1-job probe tells (a subscription is then not capped at all)."""
    if meter.allows(batch_size):
        return True
    if meter.subscription is None and meter.allows(1):
        probe(jobo, meter)
        if meter.allows(batch_size):
            return True
    if not meter.capped:
        log.warning(
            "%s: stopping before the next page: it may cost up to %s credits and --max-credits "
            "%s leaves %s of this run's budget; what was fetched is written and checkpointed, "
            "the next run resumes",
            label,
            credits_text(meter.worst_case(batch_size)),
            credits_text(meter.cap or 0.0),
            credits_text(meter.left() or 0.0),
        )
    meter.capped = True
    return False


def check_full_scan(
    jobo: JoboClient, meter: CreditMeter, *, kind: str, done_jobs: int, allow_partial: bool
) -> ScanEstimate | None:
    """Probe, estimate what the rest of a full scan costs, and raise ``CreditsShortError`` when
    the balance the feed reports cannot pay for it (a subscription always can).
    ``allow_partial`` lets it start anyway: it runs until the credits or the cap run out and
    resumes from its checkpoint. None when not even the probe fits in the cap (the scan then
    stops before its first page)."""
    if not meter.allows(1):
        return None
    page = probe(jobo, meter)
    estimate = ScanEstimate(
        kind=kind,
        total_jobs=page.estimated_total,
        done_jobs=done_jobs,
        balance=meter.balance,
        subscription=bool(meter.subscription),
    )
    log.info("%s", estimate.describe())
    if not estimate.affordable:
        if not allow_partial:
            raise estimate.refusal(partial_hint=kind == "backfill")
        log.warning("%s: the wallet cannot finish this scan; going ahead (--allow-partial)", kind)
    left = meter.left()
    if left is not None and estimate.cost is not None and estimate.cost > left:
        log.info(
            "%s: --max-credits leaves %s credits for this run, less than the %s the scan needs: "
            "it stops before the cap and the next run resumes%s",
            kind,
            credits_text(left),
            credits_text(estimate.cost),
            " (nothing is expired until a run completes the scan)" if kind == "resync" else "",
        )
    return estimate
