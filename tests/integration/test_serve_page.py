# ruff: noqa: F811 (pytest fixtures imported from test_search_data shadow their parameters)
"""The search page in a real headless Chromium (Debian's chromium and chromedriver), driven with
Selenium: what the page shows is checked against ``/api/search`` for the same search.

``make test`` installs chromium and chromium-driver (``make system-deps``); Selenium is pointed
at /usr/bin/chromedriver so it never looks for a driver to download.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from opensearchpy import OpenSearch
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.test_search_data import WorldIndex, world_index  # noqa: F401
from tests.support.serve import running_service

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = os.environ.get("JOBO_PAGE_SCREENSHOT")  # where to keep a picture of the page


@pytest.fixture(scope="module")
def site(os_client: OpenSearch, world_index: WorldIndex) -> Iterator[str]:
    with running_service(os_client, world_index.names.read_alias) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert os.path.exists(CHROMIUM), "chromium is missing: run `make system-deps`"
    assert os.path.exists(CHROMEDRIVER), "chromedriver is missing: run `make system-deps`"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shown(driver: WebDriver) -> list[dict[str, str]]:
    """The results once the page has rendered the search in its URL."""
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script(
            "return document.body.dataset.loading === 'false' && "
            "document.body.dataset.shown === window.location.search"
        )
    )
    rows = []
    for job in driver.find_elements(By.CSS_SELECTOR, "#results li.job"):
        rows.append(
            {
                "id": job.get_attribute("data-id") or "",
                "title": job.find_element(By.CSS_SELECTOR, ".title").text,
                "company": job.find_element(By.CSS_SELECTOR, ".company").text,
                "place": job.find_element(By.CSS_SELECTOR, ".place").text,
                "salary": job.find_element(By.CSS_SELECTOR, ".salary").text,
                "date": job.find_element(By.CSS_SELECTOR, ".date").text,
            }
        )
    return rows


def api_page(site: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = requests.get(f"{site}/api/search", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_shows(driver: WebDriver, page: dict[str, Any]) -> list[dict[str, str]]:
    rows = shown(driver)
    assert [row["id"] for row in rows] == [hit["id"] for hit in page["hits"]]
    for row, hit in zip(rows, page["hits"], strict=True):
        assert row["title"] == hit["title"]
        assert row["company"] == (hit["company"] or "Company not given")
        assert row["date"] == (hit["date_posted"] or hit["updated_at"])[:10]
        salary = hit["salary"] or {}
        if salary.get("usd_min") is not None:
            assert f"${int(salary['usd_min'] / 1000 + 0.5)}k" in row["salary"]  # JS rounding
        elif salary.get("usd_max") is None:
            assert row["salary"] == "Salary not given"
        cities = [loc["city"] for loc in hit["locations"] if loc["city"]]
        if cities:
            assert cities[0] in row["place"]
    total = driver.find_element(By.ID, "summary").text
    assert total.startswith(f"{page['total']:,} job")
    return rows


def url_params(driver: WebDriver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


def test_a_url_opens_its_search(site: str, browser: WebDriver) -> None:
    browser.get(f"{site}/?q=engineer&workplace_type=remote")
    assert_shows(browser, api_page(site, {"q": "engineer", "workplace_type": "remote"}))
    assert browser.find_element(By.ID, "q").get_attribute("value") == "engineer"
    chips = browser.find_elements(By.CSS_SELECTOR, "#active-filters .chip")
    assert [chip.get_attribute("data-value") for chip in chips] == ["remote"]
    remote = browser.find_element(By.CSS_SELECTOR, '.facet[data-facet="workplace_type"]')
    assert "on" in (remote.get_attribute("class") or "")


def test_type_suggest_search_pick_a_facet_and_page(site: str, browser: WebDriver) -> None:
    browser.get(f"{site}/")
    assert_shows(browser, api_page(site, {}))
    box = browser.find_element(By.ID, "q")
    box.send_keys("soft")
    WebDriverWait(browser, 10).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#suggestions li")
            and d.find_element(By.ID, "suggestions").is_displayed()
        )
    )
    offered = [
        li.get_attribute("data-text")
        for li in browser.find_elements(By.CSS_SELECTOR, "#suggestions li")
    ]
    expected = requests.get(f"{site}/api/suggest", params={"q": "soft", "size": 8}, timeout=30)
    assert offered == [s["text"] for s in expected.json()["suggestions"]]

    box.clear()
    box.send_keys("engineer", Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: url_params(d).get("q") == ["engineer"])
    first = api_page(site, {"q": "engineer"})
    assert_shows(browser, first)

    facet = browser.find_element(
        By.CSS_SELECTOR, '#facets section[data-facet="workplace_type"] .facet'
    )
    value = facet.get_attribute("data-value")
    assert value
    facet.click()
    WebDriverWait(browser, 10).until(lambda d: url_params(d).get("workplace_type") == [value])
    filtered = api_page(site, {"q": "engineer", "workplace_type": value})
    assert filtered["total"] < first["total"]
    page_one = assert_shows(browser, filtered)
    if SCREENSHOT:
        browser.save_screenshot(SCREENSHOT)
    assert filtered["next_after"], "the test needs a second page"

    browser.find_element(By.ID, "next").click()
    WebDriverWait(browser, 10).until(lambda d: url_params(d).get("page") == ["2"])
    assert url_params(browser)["after"] == [filtered["next_after"]]
    second = api_page(
        site, {"q": "engineer", "workplace_type": value, "after": filtered["next_after"]}
    )
    page_two = assert_shows(browser, second)
    assert not {r["id"] for r in page_one} & {r["id"] for r in page_two}
    assert browser.find_element(By.ID, "page-number").text == "page 2"

    browser.find_element(By.ID, "prev").click()
    WebDriverWait(browser, 10).until(lambda d: "page" not in url_params(d))
    assert_shows(browser, filtered)


def test_a_refused_search_shows_the_reason(site: str, browser: WebDriver) -> None:
    browser.get(f"{site}/?q=engineer&size=500")
    shown(browser)
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed()
    assert "size 500 is out of range" in error.text
