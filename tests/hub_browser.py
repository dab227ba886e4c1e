"""The Chromium steps of tests/test_hub.py: logins through the hub, the tools each role sees, the formgrader."""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

from browser_support import launch_browser
from hub_support import ASSIGNMENT, COURSE, Class

#: the nbgrader menu entries (their labels in nbgrader 0.9's lab extension)
STUDENT_TOOLS = {"Assignment List"}
INSTRUCTOR_TOOLS = {"Course List", "Create assignment"}
ALL_TOOLS = {"Assignment List", "Course List", "Formgrader", "Local Formgrader", "Create assignment"}
CREATE_PANEL = "#nbgrader-create_assignemnt"  # sic: nbgrader's id for the Create Assignment side panel


def _log_in(context, k: Class, user: str):
    page = context.new_page()
    started = time.monotonic()
    page.goto(f"{k.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", k.password(user))
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=180_000)
    page.wait_for_selector("#jp-main-dock-panel", state="visible")
    print(f"{user}: login to JupyterLab {time.monotonic() - started:.1f} s")
    return page


def open_nbgrader_menu(page):
    """The Nbgrader menu, open. A click on the menu bar toggles: one that lands while the bar is still
    active from the last Escape closes the menu instead (seen on a loaded machine), so click until open."""
    menu = page.locator("#jp-mainmenu-nbgrader")
    for _ in range(5):
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Nbgrader\s*$")).click()
        try:
            menu.wait_for(state="visible", timeout=10_000)
            return menu
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the click closed it; again
            page.keyboard.press("Escape")
    menu.wait_for(state="visible", timeout=10_000)
    return menu


def nbgrader_menu(page) -> set[str]:
    """The labels of the Nbgrader menu's entries, as drawn."""
    menu = open_nbgrader_menu(page)
    labels = {text.strip() for text in menu.locator(".lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()}
    page.keyboard.press("Escape")
    return labels


def _no_news_prompt(page) -> None:
    """JupyterLab's "get notified about official Jupyter news?" toast is off (the hub sets it)."""
    page.wait_for_timeout(1500)  # where it is on, it shows a moment after the page
    assert page.get_by_text(re.compile("Jupyter news", re.I)).count() == 0


def instructor_grades_in_formgrader(k: Class, student: str, comment: str) -> None:
    """Course List -> the course's formgrader service (a new tab) -> its assignment and both
    submissions -> a comment on ``student``'s submission, saved in the gradebook."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        context = launch_browser(playwright, k.tmp / "chromium-instructor")
        try:
            page = _log_in(context, k, k.instructor)
            tools = nbgrader_menu(page)
            assert INSTRUCTOR_TOOLS <= tools and not tools & (ALL_TOOLS - INSTRUCTOR_TOOLS), tools
            assert page.locator(CREATE_PANEL).count() == 1
            _no_news_prompt(page)
            open_nbgrader_menu(page).locator(".lm-Menu-itemLabel", has_text=re.compile(r"^\s*Course List\s*$")).click()
            link = page.locator("a", has_text=re.compile(rf"^\s*{re.escape(COURSE)}\s*$")).first
            link.wait_for(state="visible", timeout=60_000)
            href = link.get_attribute("href")
            assert urlparse(href).path == f"/services/{COURSE}/lab", href
            with context.expect_page(timeout=60_000) as opened:
                link.click()
            service = opened.value
            service.wait_for_url(f"**/services/{COURSE}/lab**", timeout=180_000)
            frame = service.frame_locator("iframe[src*='formgrader']")
            frame.locator(f"text={ASSIGNMENT}").first.wait_for(timeout=120_000)  # Manage Assignments, framed
            service.screenshot(path=str(k.tmp / "formgrader-in-lab.png"))

            base = f"{k.url}/services/{COURSE}/formgrader"
            service.goto(f"{base}/gradebook/{ASSIGNMENT}/{ASSIGNMENT}")
            notebooks = service.request.get(f"{base}/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}").json()
            assert {n["student"] for n in notebooks} == {k.alice, k.bob}, notebooks
            for n in notebooks:  # both submissions listed on the page (links to their grading view)
                service.locator(f"a[href*='submissions/{n['id']}']").first.wait_for(timeout=60_000)
            submission = next(n["id"] for n in notebooks if n["student"] == student)
            service.goto(f"{base}/submissions/{submission}/")
            box = service.locator("textarea.comment").first
            box.wait_for(state="visible", timeout=60_000)
            service.wait_for_load_state("networkidle")  # the page's scripts bind the boxes after they show
            comments: list = []
            for _attempt in range(4):  # a change before the scripts were bound is not saved: type it again
                box.fill("")
                box.fill(comment)
                box.press("Tab")  # the formgrader saves a comment when it loses focus
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline:
                    comments = service.request.get(f"{base}/api/comments?submission_id={submission}").json()
                    if any(c.get("manual_comment") == comment for c in comments):
                        return
                    time.sleep(0.5)
            raise AssertionError(f"the comment was not saved: {comments}")
        finally:
            context.close()


def student_tools_and_submit(k: Class, user: str) -> None:
    """The student's JupyterLab: only the Assignment List in the Nbgrader menu, no Create Assignment
    panel; the feedback opens from the list with its formulas rendered; Submit makes a submission."""
    from playwright import sync_api

    inbound = k.exchange / COURSE / "inbound"
    before = {p.name for p in inbound.iterdir() if p.name.startswith(f"{user}+")}
    with sync_api.sync_playwright() as playwright:
        context = launch_browser(playwright, k.tmp / f"chromium-{user}")
        try:
            page = _log_in(context, k, user)
            tools = nbgrader_menu(page)
            assert tools == STUDENT_TOOLS, tools
            assert page.locator(CREATE_PANEL).count() == 0
            _no_news_prompt(page)
            open_nbgrader_menu(page).locator(".lm-Menu-itemLabel",
                                             has_text=re.compile(r"^\s*Assignment List\s*$")).click()
            page.wait_for_selector(f"text={ASSIGNMENT}", timeout=60_000)

            # the feedback: "(view feedback)" shows its folder; the page opens trusted, MathJax runs
            page.get_by_text("(view feedback)").first.click()
            item = page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html").first
            item.wait_for(state="visible", timeout=60_000)
            item.dblclick()
            viewer = page.frame_locator(".jp-HTMLViewer iframe, iframe.jp-IFrame").last
            viewer.locator("mjx-container").first.wait_for(state="attached", timeout=60_000)
            page.screenshot(path=str(k.tmp / "feedback.png"))

            page.locator(".nbgrader-mainarea-widget, #nbgrader-assignment-list").first.wait_for(state="attached")
            page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
            page.locator("button:has-text('Submit')").first.click()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                after = {p.name for p in inbound.iterdir() if p.name.startswith(f"{user}+")}
                if after - before:
                    break
                time.sleep(0.5)
            else:
                page.screenshot(path=str(k.tmp / "assignments.png"))
                raise AssertionError("clicking Submit in the Assignments list made no new submission")
        finally:
            context.close()
