"""The console's Vehicles tab (issue 20): a search by vehicle goes through the API with the
case reference; a sweep without a place and a period is refused with the reason shown."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveConsole
from tests.browser.test_console import no_page_problems, sign_in


def test_investigator_searches_by_vehicle(browser_page: Any, console: LiveConsole) -> None:
    from citywatch.audit.chain import entries

    page = browser_page
    sign_in(page, console, "investigator")
    page.wait_for_url(console.url + "/search")
    page.click("#tab-vehicles")
    assert page.locator("#vehicles-form").is_visible()
    assert not page.locator("#plates-form").is_visible()
    page.fill("#vehicles-case", "CASE-2024-0077")
    page.click("#vehicles-submit")  # neither type nor colour: refused before anything is sent
    assert "type or colour" in page.inner_text("#vehicles-form .message")
    page.select_option("#vehicle-colour", "white")
    page.click("#vehicles-submit")  # no camera, no period: the API refuses and says why
    message = page.locator("#vehicles-form .message")
    message.filter(has_text="camera or a zone").wait_for()
    page.fill("#vehicles-pattern", console.plate[:3] + "*")
    page.click("#vehicles-submit")  # with a plate pattern the colour narrows a plate search
    message.filter(has_text="recorded in the audit log").wait_for()
    with console.app.state.sessions() as session:
        done = [e for e in entries(session) if e.action.startswith("vehicle.search")]
    assert [e.action for e in done] == ["vehicle.search_refused", "vehicle.search"]
    assert all(e.reason == "CASE-2024-0077" and e.actor == "investigator" for e in done)
    page.goto(console.url + "/search#vehicles")  # the tab is kept in the address
    assert page.locator("#vehicles-form").is_visible()
    no_page_problems(page)


def test_admin_adds_a_plate_with_its_vehicle(browser_page: Any, console: LiveConsole) -> None:
    page = browser_page
    sign_in(page, console, "admin")
    page.wait_for_url(console.url + "/lists")
    page.select_option("#plate-hotlist", "demo-hotlist")
    page.fill("#plate-plate", "ZG 777-VV")
    page.fill("#plate-reason", "cloned plates reported")
    page.select_option("#plate-vehicle-kind", "truck")
    page.select_option("#plate-vehicle-colour", "white")
    page.click("#plate-form button[type=submit]")
    page.wait_for_selector("#plate-form .message.ok")
    page.click("#hotlists button[data-action='plates'][data-name='demo-hotlist']")
    row = page.locator("#plates tr", has_text="ZG777VV")
    row.wait_for()
    assert "white truck" in row.inner_text()
    no_page_problems(page)
