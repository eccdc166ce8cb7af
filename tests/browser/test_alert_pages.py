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

    await page.get_by_label("Outcome").select_option("early_help")  # required (issue 19)
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
    await page.get_by_label("Outcome").select_option("monitor")  # required (issue 19)
    reason = page.get_by_label("Reason for resolving")
    await reason.evaluate("el => el.removeAttribute('required')")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_text("Write why the alert is resolved")).to_be_visible()


async def test_casework_triage_note_resolve_with_outcome_and_my_work(
    context: BrowserContext, screenshots: Path
) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await _inbox_with_alerts(page)
    await page.locator("table.alerts tbody tr a[href^='/alerts/']").last.click()
    alert_url = page.url
    await page.get_by_label("Assign to").fill("hub@demo.example")
    await page.get_by_role("button", name="Assign").click()
    await expect(page.get_by_role("status")).to_contain_text("Assigned")
    await page.get_by_label("Rating", exact=True).select_option("amber")
    await page.get_by_role("button", name="Triage").click()
    await expect(page.get_by_role("status")).to_contain_text("Triaged")
    await expect(page.locator(".due")).to_be_visible()
    await page.get_by_label("Case note").fill("Spoke to the school's DSL; attending today.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.get_by_text("Spoke to the school's DSL").first).to_be_visible()
    await page.screenshot(path=screenshots / "alert-casework.png", full_page=True)

    await page.get_by_role("link", name="My work").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    path = "/alerts/" + alert_url.split("/alerts/")[1].split("?")[0]
    await expect(page.locator(f"table a[href='{path}']")).to_have_count(1)
    await page.screenshot(path=screenshots / "my-work.png", full_page=True)

    await page.goto(alert_url.split("?")[0])
    await page.get_by_label("Outcome").select_option("advice_given")
    await page.get_by_label("Reason for resolving").fill("Advice given to the school.")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("status")).to_contain_text("Resolved")
    await expect(page.locator(".outcome")).to_have_text("Advice given")
