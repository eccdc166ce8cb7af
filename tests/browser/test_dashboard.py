"""The dashboard end to end in headless Chromium against the demo data."""

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from aggregator.demo import DEMO_PASSWORD
from tests.browser.conftest import TABLET, LiveServer

pytestmark = pytest.mark.browser

FAILED = "Sign-in failed"


async def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


async def test_sign_in_opens_home(context: BrowserContext, screenshots: Path) -> None:
    page = await context.new_page()
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in$"))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.screenshot(path=screenshots / "sign-in.png", full_page=True)

    await sign_in(page, "hub@demo.example")
    await expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    await expect(page.get_by_text("Signed in as")).to_contain_text("hub@demo.example")
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await page.screenshot(path=screenshots / "home.png", full_page=True)

    cookie = next(c for c in await context.cookies() if c["name"] == "ca_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


async def test_wrong_password_is_refused(context: BrowserContext, screenshots: Path) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example", "not-the-demo-password")
    await expect(page.get_by_role("alert")).to_contain_text(FAILED)
    await expect(page.get_by_role("alert")).to_be_focused()  # announced to screen readers
    await expect(page.get_by_label("Email address")).to_have_value("hub@demo.example")
    await page.screenshot(path=screenshots / "sign-in-refused.png", full_page=True)
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in$"))


async def test_repeated_failures_lock_the_account(context: BrowserContext) -> None:
    page = await context.new_page()
    for _ in range(5):
        await sign_in(page, "lead@demo.example", "wrong-password-guess")
        await expect(page.get_by_role("alert")).to_contain_text(FAILED)
    await sign_in(page, "lead@demo.example")  # the right password, but locked now
    await expect(page.get_by_role("alert")).to_contain_text(FAILED)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_sign_out_ends_the_session(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    assert not [c for c in await context.cookies() if c["name"] == "ca_session"]
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in$"))


async def test_agency_token_cannot_open_the_dashboard(
    browser: Browser, live_server: LiveServer, screenshots: Path
) -> None:
    ctx = await browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1366, "height": 768},
        extra_http_headers={"Authorization": f"Bearer {live_server.agency_token}"},
    )
    try:
        page = await ctx.new_page()
        for path in ("/", "/sign-in", "/audit"):
            response = await page.goto(path)
            assert response is not None and response.status == 403, path
            await expect(page.get_by_role("alert")).to_contain_text(
                "Agencies have no access to the dashboard"
            )
        await page.screenshot(path=screenshots / "agency-refused.png", full_page=True)
    finally:
        await ctx.close()


async def test_form_posted_without_csrf_token_is_refused(
    context: BrowserContext, screenshots: Path
) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    async with page.expect_navigation() as navigation:
        await page.evaluate(
            """() => {
                const form = document.querySelector('form[action="/sign-out"]');
                form.querySelector('input[name="csrf_token"]').remove();
                form.submit();
            }"""
        )
    response = await navigation.value
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Form expired or not from this site"
    )
    await page.screenshot(path=screenshots / "csrf-refused.png", full_page=True)
    await page.goto("/")  # nothing was done: still signed in
    await expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()


async def test_admin_audit_page_shows_events_and_intact_chain(
    context: BrowserContext, screenshots: Path
) -> None:
    page = await context.new_page()
    await sign_in(page, "admin@demo.example")
    await (
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit trail").click()
    )
    await expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    await expect(page.locator("#chain-status")).to_contain_text("intact")
    rows = page.locator("table.audit tbody tr")
    assert await rows.count() > 0
    await expect(page.locator("table.audit")).to_contain_text("auth.sign_in")
    await page.screenshot(path=screenshots / "audit.png", full_page=True)

    await page.get_by_label("Action").select_option("auth.sign_in")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page).to_have_url(re.compile(r"action=auth\.sign_in"))
    actions = await page.locator("table.audit tbody tr td:nth-child(4)").all_inner_texts()
    assert actions and set(actions) == {"auth.sign_in"}
    await page.screenshot(path=screenshots / "audit-filtered.png", full_page=True)


async def test_hub_user_is_kept_out_of_the_audit_page(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_in(page, "hub@demo.example")
    await expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    response = await page.goto("/audit")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("only for admins")


async def test_keyboard_and_labels(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_in(page, "admin@demo.example")
    await page.goto("/audit")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()  # visible when focused
    outline = await skip.evaluate("el => getComputedStyle(el).outlineStyle")
    background = await skip.evaluate("el => getComputedStyle(el).backgroundColor")
    assert outline != "none" or background != "rgba(0, 0, 0, 0)"
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"#main$"))
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                .map(el => el.name)"""
    )
    assert unlabelled == []


async def test_pages_fit_a_tablet(
    browser: Browser, live_server: LiveServer, screenshots: Path
) -> None:
    ctx = await browser.new_context(base_url=live_server.url, viewport=TABLET)
    try:
        page = await ctx.new_page()
        await sign_in(page, "admin@demo.example")
        for path, name in (("/", "home-tablet"), ("/audit", "audit-tablet")):
            await page.goto(path)
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways on a tablet"
            await page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    finally:
        await ctx.close()
