"""The public web catalogue (build/site/): the same facts as the PDF, accessible, valid, no external request,
filters that work without JavaScript, JSON-LD and a sitemap, built incrementally. Browser tests drive the
system's Chromium (Debian package, installed by .ci/run) and skip with the reason where it is absent."""

from __future__ import annotations

import datetime as dt
import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.project import Project
from pipeline.templating import upcoming
from tests.browser import AXE, CHROMIUM, VNU, Browser
from tests.helpers import REPO, copy_project, edit, normalise, pdf_text

ARTIFACTS = REPO / "test-artifacts" / "screenshots"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium absent (Debian package `chromium`, "
                                                                "installed by .ci/run): browser tests skipped")


class _Text(HTMLParser):
    """The visible text of an HTML page (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[type-arg]
        self.skip += tag in ("script", "style", "head")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style", "head")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def page_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return normalise(" ".join(parser.parts))


def json_ld(path: Path) -> list[dict]:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', path.read_text(encoding="utf-8"), re.S)
    return [json.loads(block) for block in found]


@pytest.fixture(scope="module")
def project(sample_out: Path) -> Project:
    """The sample, built once for the session (read only here)."""
    return Project.at(sample_out.parent)


@pytest.fixture(scope="module")
def site(project: Project) -> Path:
    return project.out / "site"


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    """The site served on localhost, as `qualidoc serve` or a web host would."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("Chromium absent (Debian package `chromium`, installed by .ci/run): browser tests skipped")
    chromium = Browser()
    yield chromium
    chromium.close()


def pages(site: Path) -> list[str]:
    return ["index.html", *sorted(f"formations/{p.name}" for p in (site / "formations").glob("*.html"))]


# Content: the same facts as the PDF --------------------------------------------------------------------------

def test_a_page_per_course_with_the_facts_of_its_programme(project, site):
    catalogue = load_catalogue(project.content, project.root)
    assert sorted(p.stem for p in (site / "formations").glob("*.html")) == sorted(catalogue.courses)
    for cid, course in catalogue.courses.items():
        text = page_text(site / f"formations/{cid}.html")
        programme = pdf_text(project.out / f"programmes/{cid}.pdf")
        facts = [course.title, course.audience, course.access and course.access.delay,
                 course.accessibility and course.accessibility.split("\n\n")[0], *course.objectives[:2],
                 catalogue.organisation.disability_referent.name]
        for fact in filter(None, facts):
            shown = normalise(fact)
            assert shown in text, (cid, fact)
            assert shown in programme.replace("’", "'") or shown[:40] in programme, (cid, fact)
        for extension in ("pdf", "docx"):
            copy = site / f"documents/{cid}.{extension}"
            assert copy.read_bytes() == (project.out / f"programmes/{cid}.{extension}").read_bytes()
            assert f'href="../documents/{cid}.{extension}"' in (site / f"formations/{cid}.html").read_text("utf-8")
    index = page_text(site / "index.html")
    assert all(normalise(c.title) in index for c in catalogue.courses.values())


def test_json_ld_names_every_course_with_its_dates_and_the_sitemap_lists_every_page(project, site):
    catalogue = load_catalogue(project.content, project.root)
    base = catalogue.organisation.website.rstrip("/")
    for cid, course in catalogue.courses.items():
        [data] = json_ld(site / f"formations/{cid}.html")
        assert data["@context"] == "https://schema.org" and data["@type"] == "Course"
        assert data["name"] == course.title and data["provider"]["name"] == catalogue.organisation.name
        assert data["url"] == f"{base}/formations/{cid}.html"
        published = upcoming(course.sessions, course.updated or dt.date(2000, 1, 1))
        instances = data.get("hasCourseInstance", [])
        assert [i.get("startDate") for i in instances] == [s.start.isoformat() if s.start else None for s in published]
        assert all(i["@type"] == "CourseInstance" for i in instances)
    management = json_ld(site / "formations/management-proximite.html")[0]
    assert [(i["startDate"], i["endDate"], i["courseMode"]) for i in management["hasCourseInstance"]] == \
        [("2027-04-06", "2027-05-04", "blended")]  # the cancelled session is not announced
    [listing] = json_ld(site / "index.html")
    assert [i["name"] for i in listing["itemListElement"]] == sorted((c.title for c in catalogue.courses.values()),
                                                                     key=str.lower)
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    locations = re.findall(r"<loc>(.*?)</loc>", sitemap)
    assert locations == [f"{base}/index.html", *(f"{base}/formations/{c}.html" for c in sorted(catalogue.courses))]
    import xml.dom.minidom

    xml.dom.minidom.parseString(sitemap.encode())  # well-formed


def test_content_is_escaped_in_the_pages_and_in_json_ld(tmp_path):
    root = copy_project(tmp_path)
    edit(root / "content/courses/rgpd-essentiel.yaml", "summary: >-\n",
         "summary: >-\n  <script>alert(1)</script> & </script><!-- \n")
    assert not build(Project.at(root)).failed
    page = (root / "build/site/formations/rgpd-essentiel.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in page
    [data] = json_ld(root / "build/site/formations/rgpd-essentiel.html")
    assert data["description"].startswith("<script>alert(1)</script> & </script><!--")


def test_the_site_is_incremental_and_deterministic(tmp_path):
    root = copy_project(tmp_path)
    project = Project.at(root)
    first = build(project)
    assert len([p for p in first.site if p.startswith("site/")]) == len(list((root / "build/site").rglob("*.*")))
    assert build(project).site == []
    edit(root / "content/courses/rgpd-essentiel.yaml", "reference: JUR-RGPD-01", "reference: JUR-RGPD-02")
    report = build(project)
    assert sorted(report.site) == ["lheo/offre-lheo.xml", "site/documents/rgpd-essentiel.docx",
                                   "site/documents/rgpd-essentiel.pdf", "site/formations/rgpd-essentiel.html"]
    (root / "templates/site").mkdir(exist_ok=True)
    shutil.copy(REPO / "templates/site/formation.html.j2", root / "templates/site/formation.html.j2")
    edit(root / "templates/site/formation.html.j2", "<h2>Informations clés</h2>", "<h2>L'essentiel</h2>")
    report = build(project)
    course_pages = sorted(f"site/formations/{p.name}" for p in (root / "build/site/formations").iterdir())
    assert sorted(report.site) == course_pages
    assert report.rebuilt == []
    other = build(Project.at(root, out=tmp_path / "again"))
    assert not other.failed
    for path in (root / "build/site").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "again/site" / path.relative_to(root / "build/site")).read_bytes()
    (root / "content/courses/prise-de-parole.yaml").unlink()
    build(project)
    assert not (root / "build/site/formations/prise-de-parole.html").exists()
    assert not (root / "build/site/documents/prise-de-parole.pdf").exists()
    assert "prise-de-parole" not in (root / "build/site/index.html").read_text(encoding="utf-8")


# In a real browser ------------------------------------------------------------------------------------------

@needs_chromium
def test_every_page_loads_cleanly_with_no_external_request(browser, server, site):
    for name in pages(site):
        for width, height, mobile in ((1280, 900, False), (390, 844, True)):
            browser.open(server + name, width, height, mobile)
            assert browser.problems() == [], (name, width)
            outside = [url for url in browser.requests() if not url.startswith(server)]
            assert outside == [], (name, outside)
            assert browser.evaluate("document.documentElement.lang") == "fr"
            wider = browser.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
            assert not wider, f"{name} scrolls sideways at {width} px"
            browser.screenshot(ARTIFACTS / f"{name.replace('/', '-').removesuffix('.html')}-{width}.png")
    assert (ARTIFACTS / "index-390.png").stat().st_size > 10_000


@needs_chromium
def test_axe_finds_no_serious_violation_on_any_page(browser, server, site):
    if not AXE.is_file():
        pytest.skip("axe-core absent (npm package, installed by .ci/run into tests/.web-tools): skipped")
    source = AXE.read_text(encoding="utf-8")
    for name in pages(site):
        browser.open(server + name)
        browser.evaluate(source)
        violations = json.loads(browser.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
            ".then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, "
            "nodes: v.nodes.map(n => n.target.join(' '))}))))"))
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert serious == [], (name, serious)
        assert browser.evaluate("typeof axe.version") == "string"


@needs_chromium
def test_filters_work_without_javascript(browser, server, project, site):
    catalogue = load_catalogue(project.content, project.root)
    titles = {course.title: course for course in catalogue.courses.values()}

    def shown() -> set[str]:
        visible = set()
        for node in browser.nodes(".formation"):
            if browser.displayed(node):
                heading = browser.send("DOM.querySelector", nodeId=node, selector="h2 a")["nodeId"]
                visible.add(html.unescape(browser.send("DOM.getOuterHTML", nodeId=heading)["outerHTML"]
                                          .split(">", 1)[1].rsplit("<", 1)[0]))
        return visible

    browser.open(server + "index.html", javascript=False)
    assert shown() == set(titles)
    browser.click('label[for="modalite-distanciel"]')
    remote = {t for t, c in titles.items() if "distanciel" in c.formats}
    assert shown() == remote and 0 < len(remote) < len(titles)
    browser.click('label[for="cpf-oui"]')
    assert shown() == {t for t in remote if titles[t].cpf}
    browser.click('label[for="modalite-toutes"]')
    browser.click('label[for="cpf-toutes"]')
    browser.click('label[for="certifiante-oui"]')
    certifying = {t for t, c in titles.items() if c.certifying}
    assert shown() == certifying and 0 < len(certifying) < len(titles)
    browser.click('label[for="certifiante-toutes"]')
    browser.click('label[for="categorie-bc"]')
    assert shown() == {t for t, c in titles.items() if c.category == "BC"}
    browser.screenshot(ARTIFACTS / "index-filtre-bilan-1280.png")
    assert browser.requests() == [server + "index.html", server + "style.css"] or \
        all(url.startswith(server) for url in browser.requests())


# Valid HTML --------------------------------------------------------------------------------------------------

def test_the_html_validates(site):
    java = shutil.which("java")
    if java is None or not VNU.is_file():
        pytest.skip("the Nu Html Checker needs java and vnu.jar (npm package vnu-jar, installed by .ci/run into "
                    "tests/.web-tools): skipped")
    files = [str(site / name) for name in pages(site)]
    result = subprocess.run([java, "-jar", str(VNU), "--format", "json", "--also-check-css", *files,
                             str(site / "style.css")], capture_output=True, text=True)
    messages = json.loads(result.stderr or result.stdout or '{"messages": []}')["messages"]
    problems = [f"{m.get('url', '').rsplit('/', 2)[-1]}:{m.get('lastLine')}: {m['message']}" for m in messages
                if m.get("type") == "error" or m.get("subType") == "warning"]
    assert problems == [], problems


# qualidoc serve ---------------------------------------------------------------------------------------------

def test_serve_rebuilds_and_tells_the_page_to_reload(tmp_path):
    import queue
    import urllib.request

    from pipeline.serve import EVENTS, serve

    root = copy_project(tmp_path)
    stop, ready = threading.Event(), queue.Queue()
    thread = threading.Thread(target=serve, args=(Project.at(root),), daemon=True,
                              kwargs={"port": 0, "on_ready": ready.put, "stop": stop})
    thread.start()
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        url = ready.get(timeout=120)
        assert url.startswith("http://127.0.0.1:")
        page = direct.open(url + "formations/rgpd-essentiel.html", timeout=10).read().decode()
        assert f'new EventSource("{EVENTS}")' in page and "RGPD : les essentiels" in html.unescape(page)
        on_disk = (root / "build/site/formations/rgpd-essentiel.html").read_text(encoding="utf-8")
        assert "EventSource" not in on_disk  # the published file has no reload script
        events = direct.open(url + EVENTS.lstrip("/"), timeout=60)
        assert events.readline() == b"retry: 1000\n"
        edit(root / "content/courses/rgpd-essentiel.yaml", 'title: "RGPD', 'title: "Le RGPD')
        lines = []
        while b"data: reload\n" not in lines:
            lines.append(events.readline())
        page = direct.open(url + "formations/rgpd-essentiel.html", timeout=10).read().decode()
        assert "Le RGPD : les essentiels" in html.unescape(page)
        assert direct.open(url + "style.css", timeout=10).read().startswith(b"/*")
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
