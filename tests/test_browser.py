"""A real Chromium walks every page; axe-core finds no WCAG 2.1 A/AA violation, and the
console shows no Content-Security-Policy violation (no inline script or style)."""
from __future__ import annotations

import os
import re
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from research_repo.services import fixtures

from .helpers import settle

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("RESEARCH_REPO_CHROMIUM", "/usr/bin/chromium")
# The flags this sandbox needs: no sandboxing as root, and no background calls to the network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture
def live_server(app, db):
    with db.writing() as session:
        fixtures.load_demo(session)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_problems = []
    page.on("console", lambda m: m.type in ("error", "warning") and page.console_problems.append(m.text))
    page.on("pageerror", lambda e: page.console_problems.append(str(e)))
    yield page
    context.close()


def check_page(page, label: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    violations = results.response["violations"]
    report = "\n".join(
        f"  {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )
    assert not violations, f"axe found WCAG 2.1 A/AA violations on {label}:\n{report}"
    problems = [p for p in page.console_problems if "Content Security Policy" in p or "Refused" in p]
    assert not problems, f"CSP violations on {label}: {problems}"


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/studies")


def test_pages_are_accessible(live_server, page):
    base = live_server
    page.goto(f"{base}/login")
    check_page(page, "sign in")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The username or password is not right")
    check_page(page, "sign in with an error")

    sign_in(page, base, "admin", "demo-admin-password")
    check_page(page, "study list")

    page.get_by_role("link", name="Retirement Services: first year of annuity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Retirement Services: first year of annuity")
    expect(page.get_by_role("row")).to_have_count(7)  # header and six sources
    check_page(page, "study page")

    page.get_by_role("link", name="What de-identification replaced, and how well it works").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("De-identification")
    check_page(page, "de-identification report")
    page.go_back()

    page.get_by_role("link", name="Edit study and members").click()
    check_page(page, "edit study")

    page.goto(f"{base}/studies/new")
    page.get_by_role("button", name="Create study").click()  # empty: errors shown
    expect(page.locator(".usa-error-message")).to_have_count(2)  # name and service
    check_page(page, "new study with errors")

    page.get_by_role("link", name="Users").click()
    check_page(page, "users")


def test_researcher_creates_study_and_adds_member(live_server, page):
    base = live_server
    sign_in(page, base, "researcher", "demo-researcher-password")
    page.get_by_role("link", name="New study").click()
    page.get_by_label("Study name").fill("USAJOBS applicant journeys")
    page.get_by_label("Service").fill("USAJOBS")
    page.get_by_label("Method").select_option("interviews")
    page.get_by_label("OMB control number").fill("3206-0252")
    page.get_by_role("button", name="Create study").click()
    expect(page.get_by_role("status")).to_have_text("Study created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("USAJOBS applicant journeys")
    page.get_by_role("link", name="Edit study and members").click()
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Role in this study").select_option("viewer")
    page.get_by_role("button", name="Save member").click()
    expect(page.get_by_role("status")).to_have_text("Member saved.")
    expect(page.get_by_role("row", name=re.compile("Demo Viewer"))).to_have_count(1)
    check_page(page, "edit study after adding a member")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")


def test_small_screen_menu_is_accessible(live_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.console_problems = []
    page.on("console", lambda m: m.type == "error" and page.console_problems.append(m.text))
    sign_in(page, live_server, "admin", "demo-admin-password")
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Users").click()
    page.wait_for_url(f"{live_server}/admin/users")
    check_page(page, "users on a small screen")
    context.close()


def test_researcher_uploads_a_transcript_and_an_export(live_server, page, tmp_path):
    from .ingest_files import PLANTED, TRANSCRIPT, tickets_csv

    sign_in(page, live_server, "researcher", "demo-researcher-password")
    page.get_by_role("link", name="Retirement Services: first year of annuity").click()
    page.get_by_role("link", name="Upload files").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Upload to")
    check_page(page, "the upload page")

    # An error first: a broken caption file is refused with a message naming it and its line.
    broken = tmp_path / "call.vtt"
    broken.write_bytes(b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\nbroken cue\n")
    page.get_by_label("Files").set_input_files(str(broken))
    page.get_by_role("button", name="Upload and de-identify").click()
    expect(page.get_by_text("line 6: expected a cue timing line")).to_be_visible()
    check_page(page, "the upload page with an error")

    transcript = tmp_path / "interview.txt"
    transcript.write_text(TRANSCRIPT)
    page.get_by_label("Files").set_input_files(str(transcript))
    page.get_by_label("Kind of source").select_option("interview")
    page.get_by_role("button", name="Upload and de-identify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Interview \d+"))
    expect(page.locator(".rr-speaker").first).to_be_visible()
    body = page.content()
    assert all(value not in body for value in PLANTED.values())
    check_page(page, "a source page")
    # The researcher corrects a speaker's role from the page.
    first = page.locator("#speakers ~ table tbody tr").first
    first.get_by_role("combobox").select_option("NOTE_TAKER")
    first.get_by_role("button", name=re.compile("Save")).click()
    expect(page.get_by_role("status")).to_contain_text("now have the role you chose")
    expect(page.locator("#speakers ~ table tbody tr").first.get_by_role("combobox")).to_have_value("NOTE_TAKER")

    # The month a participant mailed the form was kept (a bare month is not an identifier); the
    # researcher redacts it anyway, by typing it, as a keyboard user would.
    expect(page.locator(".rr-passages")).to_contain_text("in March")
    page.get_by_label("Text to redact").fill("March")
    page.get_by_label("Kind of identifier").select_option("DATE")
    page.get_by_role("button", name="Redact every occurrence").click()
    expect(page.get_by_text(re.compile(r"Redacted \d+ occurrence"))).to_be_visible()
    expect(page.locator(".rr-passages")).to_contain_text("in [DATE_1]")

    page.goto(page.url.rsplit("/sources/", 1)[0] + "/upload")
    export = tmp_path / "tickets.csv"
    export.write_bytes(tickets_csv(40, planted_every=4))
    page.get_by_label("Files").set_input_files(str(export))
    page.get_by_role("button", name="Upload and de-identify").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Import")
    expect(page.locator("#import-summary")).to_contain_text("Done", timeout=30_000)
    expect(page.locator("#import-summary")).to_contain_text("stored 40")
    check_page(page, "an import page")


def test_researcher_previews_the_redactions_before_storing(live_server, page, tmp_path):
    from .ingest_files import PLANTED, TRANSCRIPT

    sign_in(page, live_server, "researcher", "demo-researcher-password")
    page.get_by_role("link", name="Retirement Services: first year of annuity").click()
    page.get_by_role("link", name="Upload files").click()
    transcript = tmp_path / "interview.txt"
    transcript.write_text(TRANSCRIPT)
    page.get_by_label("Files").set_input_files(str(transcript))
    page.get_by_label("Kind of source").select_option("interview")
    page.get_by_role("button", name="Preview the redactions first").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview the redactions")
    check_page(page, "the redaction preview")
    page.get_by_label("Also replace, one per line").fill("letter")
    page.get_by_role("button", name="Store with these decisions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Interview \d+"))
    expect(page.get_by_role("status")).to_contain_text("1 value added")
    body = page.content()
    assert all(value not in body for value in PLANTED.values())


def test_search_page_is_accessible(app, live_server, page):
    from research_repo.search import indexer

    indexer.drain_all(app)
    sign_in(page, live_server, "analyst", "demo-analyst-password")
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Search passages").fill("interim payment")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results-heading")).to_contain_text("passage")
    expect(page.locator(".rr-snippet mark").first).to_be_visible()
    check_page(page, "search results")
    page.locator(".rr-facets .usa-checkbox__label").first.click()  # USWDS hides the box itself
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#results-heading")).to_contain_text("passage")
    check_page(page, "filtered search results")
    page.get_by_role("link", name="More like this").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passages like this one")
    check_page(page, "more like this")


def test_researcher_runs_and_reviews_themes(app, live_server, page):
    from research_repo import jobs

    settle(app)
    sign_in(page, live_server, "researcher", "demo-researcher-password")
    page.get_by_role("link", name="Retirement Services: first year of annuity").click()
    page.get_by_role("link", name="Themes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Themes")
    check_page(page, "themes before a run")
    page.get_by_label("Number of themes").fill("4")
    page.get_by_role("button", name="Run themes").click()
    expect(page.locator(".usa-alert--success")).to_contain_text("is queued")
    assert jobs.Worker(app).run(until_idle=True) == 1
    page.reload()
    expect(page.locator(".rr-theme")).to_have_count(4)
    expect(page.get_by_role("img", name="Map of passages by theme")).to_be_visible()
    check_page(page, "theme review")
    first = page.locator(".rr-theme").first
    first.get_by_role("button", name="Accept").click()
    expect(page.locator(".usa-alert--success")).to_contain_text("is accepted")
    page.get_by_role("button", name="Undo the last action").click()
    expect(page.locator(".usa-alert--success")).to_contain_text("Undone: Accepted")
    check_page(page, "theme review after undo")


def test_the_whole_research_loop(app, live_server, page, tmp_path):
    """Upload a transcript, find a passage by search, highlight and tag it, accept a theme,
    write an insight from it, link it to Q11 and open the brief; axe on every page."""
    from research_repo import jobs
    from research_repo.search import indexer

    base = live_server
    sign_in(page, base, "researcher", "demo-researcher-password")
    page.get_by_role("link", name="Retirement Services: first year of annuity").click()
    study_url = page.url
    page.get_by_role("link", name="Codebook").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Codebook")
    page.get_by_label("Tag name").fill("Interim pay")
    page.get_by_label("Description").fill("Payments before the final annuity is computed.")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("status")).to_contain_text("Tag added: Interim pay")
    check_page(page, "codebook")

    page.goto(study_url)
    page.get_by_role("link", name="Upload files").click()
    transcript = tmp_path / "call-notes.txt"
    transcript.write_text("Moderator: What happened after you retired?\n"
                          "P1: My interim payment was cut in half in May and the letter used words I did not "
                          "understand, so I called the retirement line twice.\n")
    page.get_by_label("Files").set_input_files(str(transcript))
    page.get_by_label("Kind of source").select_option("interview")
    page.get_by_role("button", name="Upload and de-identify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Interview \d+"))

    indexer.drain_all(app)
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Search passages").fill('"cut in half"')
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results-heading")).to_contain_text("1 passage")
    check_page(page, "search results with tag all")
    page.get_by_role("link", name=re.compile("Highlight and tag")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Passage")

    # Select words with the mouse: the script fills the text and its offsets.
    page.evaluate("""() => {
        const box = document.getElementById('passage-text');
        const node = [...box.childNodes].find(n => n.nodeType === 3 && n.nodeValue.includes('cut in half'));
        const start = node.nodeValue.indexOf('interim payment was cut in half');
        const range = document.createRange();
        range.setStart(node, start);
        range.setEnd(node, start + 'interim payment was cut in half'.length);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        box.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
    }""")
    expect(page.get_by_label("Selected text")).to_have_value("interim payment was cut in half")
    page.locator("label", has_text="Interim pay").click()
    page.get_by_label("Trust", exact=True).select_option("negative")
    page.get_by_label("Memo").fill("Second call in a month about the same letter.")
    page.get_by_role("button", name="Save highlight").click()
    expect(page.get_by_role("status")).to_contain_text("saved.")  # a count and an id: no quote in the cookie
    expect(page.locator(".rr-highlight")).to_contain_text("A-11 drivers/Trust (negative)")
    check_page(page, "passage with a highlight")
    passage_url = page.url

    # Themes: run, accept one, write an insight from it.
    settle(app)  # the uploads' placement jobs and index rows
    page.goto(study_url)
    page.get_by_role("link", name="Themes").click()
    page.get_by_label("Number of themes").fill("3")
    page.get_by_role("button", name="Run themes").click()
    assert jobs.Worker(app).run(until_idle=True) == 1
    page.reload()
    first = page.locator(".rr-theme").first
    first.get_by_role("button", name="Accept").click()
    expect(page.locator(".usa-alert--success")).to_contain_text("is accepted")
    check_page(page, "themes with tag all and write insight")
    page.locator(".rr-theme").first.get_by_role("link", name=re.compile("Write an insight from this theme")).click()
    expect(page.get_by_role("heading", level=2, name="Write an insight")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Insight"))).to_have_value(re.compile(r".+"))  # the theme's name
    page.get_by_label(re.compile(r"^Insight")).fill(
        "Annuitants do not understand why interim payments change, and call again and again.")
    page.get_by_label("Trust").select_option("negative")
    page.locator("label", has_text="OPM Q11").click()
    page.get_by_role("button", name="Save draft insight").click()
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    check_page(page, "an insight")
    insight_url = page.url

    # The highlight joins it as evidence, then it is reviewed and published.
    page.goto(passage_url)
    page.get_by_role("button", name="Add as evidence").click()
    expect(page.get_by_role("status")).to_contain_text("Added 1 piece of evidence")
    page.goto(insight_url)
    expect(page.locator(".rr-evidence")).to_contain_text("interim payment was cut in half")
    page.get_by_role("button", name="Mark reviewed").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#insight-status")).to_have_text("published")
    check_page(page, "a published insight")

    page.get_by_role("link", name="Learning agenda").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Learning agenda")
    check_page(page, "learning agenda")
    page.get_by_role("link", name="OPM Q11").click()
    expect(page.locator(".rr-chain")).to_contain_text("interim payment was cut in half")
    check_page(page, "question Q11 and its evidence chain")
    page.get_by_role("link", name="Open the brief").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("OPM Q11: insight brief")
    expect(page.locator(".rr-brief")).to_contain_text("Annuitants do not understand why interim payments change")
    expect(page.locator(".rr-brief")).to_contain_text("interim payment was cut in half")
    check_page(page, "the brief")
    page.emulate_media(media="print")
    expect(page.locator(".usa-header")).to_be_hidden()
    page.emulate_media(media="screen")

    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("dashboard")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("rr_")
    check_page(page, "API tokens")
