"""The credit meter and the full-scan estimate: plain arithmetic on what feed pages report."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from indexer.errors import ExitCode
from indexer.sync.credits import CreditMeter, ScanEstimate, next_full_scan


@dataclass
class Page:
    jobs: list[dict[str, object]] = field(default_factory=list)
    credits_deducted: float | None = None
    credits_balance: float | None = None


def paid(jobs: int, balance: float) -> Page:
    return Page([{"id": str(i)} for i in range(jobs)], jobs * 0.5, balance)


def test_the_meter_counts_deductions_and_keeps_the_last_balance() -> None:
    meter = CreditMeter()
    meter.record(paid(100, 950))
    meter.record(paid(40, 930))
    assert (meter.spent, meter.balance, meter.subscription) == (70, 930, False)


def test_free_pages_that_delivered_jobs_mean_a_subscription() -> None:
    meter = CreditMeter(cap=1)
    meter.record(Page([], 0.0, None))  # an empty page proves nothing
    assert meter.subscription is None
    assert not meter.allows(100)  # until then a page may cost 50
    meter.record(Page([{"id": "a"}], 0.0, None))
    assert meter.subscription is True
    assert meter.allows(1000)
    assert meter.worst_case(1000) == 0
    meter.record(paid(2, 10))  # the plan lapsed mid-run: pages cost again
    assert meter.subscription is False
    assert not meter.allows(100)


def test_missing_credit_headers_prove_nothing() -> None:
    meter = CreditMeter()
    meter.record(Page([{"id": "a"}], None, None))
    assert (meter.spent, meter.subscription) == (0, None)


@pytest.mark.parametrize(
    ("cap", "spent", "batch", "allowed"),
    [
        (None, 10**6, 1000, True),
        (220, 200.5, 100, False),  # 250.5 would exceed the cap
        (250.5, 200.5, 100, True),  # exactly the cap is allowed
        (0.4, 0, 1, False),  # not even one job
        (0.5, 0, 1, True),
    ],
)
def test_the_cap_allows_a_page_only_if_its_worst_case_fits(
    cap: float | None, spent: float, batch: int, allowed: bool
) -> None:
    assert CreditMeter(cap=cap, spent=spent).allows(batch) is allowed


def test_what_is_left_of_the_cap() -> None:
    assert CreditMeter(cap=220, spent=0.5).left() == 219.5
    assert CreditMeter(cap=1, spent=3).left() == 0
    assert CreditMeter().left() is None


def test_an_estimate_compares_the_rest_of_the_scan_with_the_balance() -> None:
    fresh = ScanEstimate("resync", total_jobs=600, done_jobs=0, balance=99.5, subscription=False)
    assert (fresh.remaining_jobs, fresh.cost, fresh.affordable) == (600, 300, False)
    resumed = ScanEstimate(
        "backfill", total_jobs=600, done_jobs=450, balance=99.5, subscription=False
    )
    assert (resumed.remaining_jobs, resumed.cost, resumed.affordable) == (150, 75, True)
    assert "resuming after 450" in resumed.describe()
    free = ScanEstimate("resync", total_jobs=10**6, done_jobs=0, balance=None, subscription=True)
    assert (free.cost, free.affordable) == (0, True)
    unknown = ScanEstimate("resync", total_jobs=None, done_jobs=0, balance=5, subscription=False)
    assert (unknown.cost, unknown.affordable) == (None, True)
    assert "no estimated_total" in unknown.describe()


def test_a_refusal_names_cost_balance_and_what_to_do() -> None:
    estimate = ScanEstimate(
        "backfill", total_jobs=1000, done_jobs=0, balance=120, subscription=False
    )
    error = estimate.refusal(partial_hint=True)
    assert error.exit_code == ExitCode.UPSTREAM_REFUSED
    assert error.outcome == "refused"
    text = str(error)
    for fact in (
        "500 credits",
        "1,000 jobs",
        "holds 120",
        "top up at least 380",
        "--allow-partial",
    ):
        assert fact in text, text
    resync = ScanEstimate("resync", total_jobs=10, done_jobs=0, balance=1, subscription=False)
    assert "expire nothing" in str(resync.refusal(partial_hint=False))


def test_the_next_full_scan_comes_from_the_feed_estimate_else_the_index() -> None:
    stored = {"full_scan_jobs": 800, "estimated_at": "2026-01-01T00:00:00.000Z"}
    assert next_full_scan(stored, active=700) == {
        "jobs": 800,
        "credits": 400,
        "source": "feed estimate",
        "estimated_at": "2026-01-01T00:00:00.000Z",
    }
    assert next_full_scan({}, active=700)["credits"] == 350
    assert next_full_scan({"subscription": True}, active=700)["credits"] == 0
    assert next_full_scan({}, active=None) == {
        "jobs": None,
        "credits": None,
        "source": None,
        "estimated_at": None,
    }
