"""The children list, a child's full picture and the review queue, in Chromium."""

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from tests.browser.conftest import TABLET, LiveServer
from tests.browser.test_dashboard import sign_in

pytestmark = pytest.mark.browser


async def test_children_search_and_child_page_pictures(
    context: BrowserContext, screenshots: Path
) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await page.goto("/children")
    await expect(page.get_by_role("heading", name="Children", exact=True)).to_be_visible()
    await page.screenshot(path=screenshots / "children.png", full_page=True)
    await page.get_by_label("Name").fill("Marchetti")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("status")).to_have_text("1 child found.")
    await page.get_by_role("link", name=re.compile("Isla Marchetti")).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Isla Marchetti")
    timeline_marks = page.locator("#timeline-picture svg circle.mark")
    await expect(timeline_marks).to_have_count(2)
    network_nodes = page.locator("#network-picture svg g.node")
    assert await network_nodes.count() >= 3  # the child and two agencies at least
    box = await page.locator("#timeline-picture svg.timeline").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50
    await expect(page.get_by_role("table").filter(has_text="What was seen")).to_contain_text(
        "public task"
    )
    await page.screenshot(path=screenshots / "child-page.png", full_page=True)


async def test_review_decision_merges_the_picture(
    context: BrowserContext, screenshots: Path
) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")  # the lead account is locked by the lock-out test
    await page.goto("/review")
    item = page.locator("article.review-item").filter(has_text="Hollingworth").first
    await expect(item).to_be_visible()
    await expect(item.locator("tr.differs, tr.missing").first).to_be_visible()
    await expect(item.get_by_text("Why the matcher was unsure")).to_be_visible()
    await page.screenshot(
        path=screenshots / "review-queue.png"
    )  # the first items, as a person sees them
    await item.get_by_label("Same child").check()
    await item.get_by_label("Note").fill("Checked with the school: same Jack.")
    await item.get_by_role("button", name="Record decision").click()
    await expect(page.get_by_role("status").first).to_contain_text("same child")
    await expect(page.locator("#timeline-picture svg circle.mark")).to_have_count(2)
    assert "Hollingworth" in (await page.get_by_role("heading", level=1).inner_text())
    await page.screenshot(path=screenshots / "child-page-merged.png", full_page=True)


async def test_hub_pages_fit_a_tablet(
    browser: Browser, live_server: LiveServer, screenshots: Path
) -> None:
    ctx = await browser.new_context(base_url=live_server.url, viewport=TABLET)
    try:
        page = await ctx.new_page()
        await sign_in(page, "hub@demo.example")
        await page.goto("/children")
        child = await page.locator("table.children tbody a").first.get_attribute("href")
        for path, name in (
            ("/alerts", "alert-inbox-tablet"),
            ("/children", "children-tablet"),
            (child, "child-page-tablet"),
            ("/review", "review-queue-tablet"),
        ):
            assert path
            await page.goto(path)
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways on a tablet"
            await page.screenshot(path=screenshots / f"{name}.png")
        # keyboard: the skip link is the first stop and lands on the main content
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    finally:
        await ctx.close()


async def test_child_page_prints_for_a_meeting_and_exports(
    context: BrowserContext, screenshots: Path
) -> None:
    """Printed: no navigation, every sheet marked and naming the child; exported as PDF."""
    import io

    from pypdf import PdfReader

    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await page.goto("/children")
    await page.get_by_label("Name").fill("Marchetti")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=re.compile("Isla Marchetti")).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Isla Marchetti")
    await page.emulate_media(media="print")
    await expect(page.locator(".site-nav")).to_be_hidden()
    await expect(page.locator(".print-marking")).to_be_visible()
    printed_pdf = await page.pdf(
        prefer_css_page_size=True, path=screenshots / "child-page-print.pdf"
    )
    printed = PdfReader(io.BytesIO(printed_pdf))
    for sheet in printed.pages:
        text = sheet.extract_text()
        assert "OFFICIAL-SENSITIVE" in text and "Isla Marchetti" in text
        assert "Sign out" not in text  # the navigation is not printed
    await page.emulate_media(media="screen")
    await page.get_by_text("Export the chronology for a meeting").click()
    await page.get_by_label("Who is it for").fill("Strategy discussion, DS Patel")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export chronology").click()
    download = await download_info.value
    path = await download.path()
    assert path is not None
    exported = PdfReader(str(path))
    assert "OFFICIAL-SENSITIVE" in exported.pages[0].extract_text()
    assert "Strategy discussion, DS Patel" in exported.pages[0].extract_text()
