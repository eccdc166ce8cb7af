"""A hub's morning in Chromium, on lists long enough to need pages (issue 18)."""

import re

import pytest
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import LiveServer
from tests.browser.test_dashboard import sign_in

pytestmark = pytest.mark.browser


async def test_every_alert_is_reachable_grouped_and_filtered(
    context: BrowserContext, long_lists: LiveServer
) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await page.goto("/alerts")
    status = await page.get_by_role("status").first.inner_text()
    total = int(re.match(r"(\d+) alerts", status).group(1))  # type: ignore[union-attr]
    assert total > 200
    pager = page.get_by_role("navigation", name="Pages of alerts")
    await expect(pager).to_contain_text(f"of {total} alerts")
    pages = -(-total // 50)
    await pager.get_by_role("link", name=str(pages), exact=True).click()
    await expect(page.get_by_role("navigation", name="Pages of alerts")).to_contain_text(
        f"page {pages} of {pages}"
    )
    last_rows = await page.locator("table.alerts tbody tr").count()
    assert last_rows == total - 50 * (pages - 1)
    await page.get_by_label("Severity").select_option("red")
    await page.get_by_label("Show", exact=True).select_option("child")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("status").first).to_contain_text("children with matching alerts")
    severities = await page.locator("table.alerts-by-child tbody tr td:first-of-type").all_inner_texts()
    assert severities and set(severities) == {"red"}


async def test_review_queue_pages_sorts_and_moves_on(
    context: BrowserContext, long_lists: LiveServer
) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await page.goto("/review")
    status = await page.locator("p.review-total").inner_text()
    total = int(re.match(r"(\d+) possible", status).group(1))  # type: ignore[union-attr]
    assert total > 50
    assert await page.locator("article.review-item").count() == 50
    await page.get_by_label("Sort by").select_option("probability")
    await page.get_by_role("button", name="Sort").click()
    first = page.locator("article.review-item").first
    await first.get_by_label("Different children").check()
    await first.get_by_role("button", name="Record and go to the next").click()
    await expect(page.locator("p.review-total")).to_have_text(
        f"{total - 1} possible matches to review."
    )
    assert "sort=probability" in page.url
    await expect(page.get_by_role("status").first).to_contain_text("different children")
