"""The alert inbox in Chromium: see the evidence, acknowledge, resolve with a reason."""

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.test_dashboard import sign_in

pytestmark = pytest.mark.browser


async def _inbox_with_alerts(page: Page) -> None:
    """The scheduler sweeps the demo at start; wait (bounded) for its first alerts."""
    for _ in range(40):
        await page.goto("/alerts")
        if await page.locator("table.alerts tbody tr").count():
            return
        await asyncio.sleep(0.5)
    raise AssertionError("no alerts appeared within 20 s of the demo starting")


async def test_alert_acknowledged_then_resolved(context: BrowserContext, screenshots: Path) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await _inbox_with_alerts(page)
    rows = page.locator("table.alerts tbody tr")
    severities = [
        await rows.nth(i).locator("td").first.inner_text() for i in range(await rows.count())
    ]
    assert severities == sorted(severities, key=lambda s: s != "red")  # red first
    await page.screenshot(path=screenshots / "alert-inbox.png", full_page=True)

    await page.get_by_role("link", name="multi agency 7d").first.click()
    await expect(page.get_by_role("heading", name="Evidence")).to_be_visible()
    evidence = page.get_by_role("table").filter(has_text="Agency")
    assert await evidence.locator("tbody tr").count() >= 2
    await page.screenshot(path=screenshots / "alert.png", full_page=True)

    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_contain_text("Acknowledged")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("acknowledged")
    await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    await page.get_by_label("Reason for resolving").fill(
        "Strategy discussion held; early help offered."
    )
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("status")).to_contain_text("Resolved")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("resolved")
    await expect(page.get_by_text("Strategy discussion held").first).to_be_visible()


async def test_resolving_needs_a_reason(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await _inbox_with_alerts(page)
    await page.locator("table.alerts tbody tr a[href^='/alerts/']").first.click()
    reason = page.get_by_label("Reason for resolving")
    await reason.evaluate("el => el.removeAttribute('required')")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_text("Write why the alert is resolved")).to_be_visible()
