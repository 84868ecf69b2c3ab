"""The dashboards served by a real Voilà server, opened in a real browser (Debian chromium + Playwright)."""

import re
import time
import urllib.request
from urllib.parse import urlparse

import numpy as np
import pytest
from _voila import (
    browser,
    image_href,
    kernel_processes,
    open_tab,
    page_kernel_id,
    set_slider,
    timed_image_change,
    voila_server,
    wait_image_change,
)

MAX_UPLOAD = 30 * 2**20  # the upload limit of these tests' server (default 8 GB)
CULL = 20  # seconds: these tests' server stops a kernel no page has been connected to for this long


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    for name in ("data", "exports", "cache"):
        (root / name).mkdir()
    return root


@pytest.fixture(scope="module")
def server(folders):
    env = {"PHASEDASH_MAX_UPLOAD": str(MAX_UPLOAD), "PHASEDASH_DATA_DIR": str(folders / "data"),
           "PHASEDASH_EXPORT_DIR": str(folders / "exports"), "PHASEDASH_CACHE_DIR": str(folders / "cache")}
    with voila_server(env=env, args=[f"--ClassroomKernelManager.cull_disconnected_timeout={CULL}",
                                     "--MappingKernelManager.cull_interval=2"]) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium):
    ctx = chromium.new_context(viewport={"width": 1400, "height": 1100})
    ctx.set_default_timeout(90000)  # a loaded 2-core machine: pages take their time, they do not fail
    pg = ctx.new_page()
    errors, away = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # a class server often has no internet: every request goes to the server, none off the machine
    # (Voilà's lab template linked two stylesheets of cdn.jsdelivr.net, which held a page blank where they hung)
    pg.route(_off_machine, lambda r: (away.append(r.request.url), r.abort("addressunreachable")))
    yield pg
    ctx.close()
    assert not errors, errors
    assert not away, away


def _off_machine(url):
    return not url.startswith(("data:", "blob:")) and urlparse(url).hostname != "127.0.0.1"


@pytest.mark.parametrize("notebook, marker", [("phase_mapping.ipynb", "App(requested_map"),
                                              ("full_map.ipynb", "ResultsApp()")])
def test_voila_serves_the_app_without_source_or_traceback(server, notebook, marker):
    html = urllib.request.urlopen(f"{server}/voila/render/{notebook}", timeout=120).read().decode()
    assert "application/vnd.jupyter.widget-view+json" in html
    assert marker not in html and "import " not in html.split("<body", 1)[-1].split("jupyter-config-data")[0]
    assert "Traceback" not in html and '"output_type": "error"' not in html and '"ename"' not in html


def _text(page):
    return page.inner_text(".phasedash-app")


def test_phase_mapping_dashboard_in_a_browser(server, page):
    page.goto(f"{server}/voila/render/phase_mapping.ipynb")
    page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
    assert image_href(page, ".pd-data-map")
    # a step whose result needs a button says so, instead of an empty picture
    open_tab(page, "5. Compare")
    assert "Press Compare the methods to compute." in page.inner_text(".phasedash-app")
    assert not page.is_visible(".pd-disagree-map")
    # phase map: a minimum size changes the map and the modal table
    open_tab(page, "4. Phase map")
    page.wait_for_selector(".pd-modal-table table")
    table = page.inner_text(".pd-modal-table")
    timed_image_change(page, ".pd-phase-map", lambda: set_slider(page, ".pd-min-size", 30))
    page.wait_for_function("t => document.querySelector('.pd-modal-table').innerText !== t", arg=table)
    assert "unassigned" in page.inner_text(".pd-modal-table")
    # decomposition: the number of components changes the loading map browser
    open_tab(page, "2. Decomposition")
    before = image_href(page, ".pd-loading-map")
    set_slider(page, ".pd-n-components", 3)  # P45 opens with 4: the component browser goes to 0..2
    page.wait_for_function("document.querySelector('.pd-component .noUi-handle')"
                           ".getAttribute('aria-valuemax').startsWith('2')", timeout=30000)
    set_slider(page, ".pd-component", 2)
    wait_image_change(page, ".pd-loading-map", before)
    page.wait_for_function("document.body.innerText.includes('loading 2')")
    # clustering: the number of clusters redraws the cluster map
    open_tab(page, "3. Clustering")
    timed_image_change(page, ".pd-cluster-map", lambda: set_slider(page, ".pd-n-clusters", 7))  # opens with 5
    page.wait_for_function("document.body.innerText.includes('7 clusters')")
    # grains
    open_tab(page, "6. Grains")
    page.click(".pd-grains-go")
    page.wait_for_function("document.querySelector('.pd-grain-stats').innerText.includes('grains')", timeout=60000)
    assert re.search(r"\d+ grains", page.inner_text(".pd-grain-stats"))


def test_click_a_pixel_and_drag_a_rectangle(server, page):
    page.goto(f"{server}/voila/render/phase_mapping.ipynb")
    page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
    box = page.locator(".pd-data-map image").bounding_box()
    at = lambda fx, fy: (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)  # noqa: E731
    page.mouse.click(*at(0.5, 0.5))
    page.wait_for_function("document.body.innerText.includes('spectrum of pixel (')", timeout=20000)
    assert re.search(r"pixel \((3[5-9]), (4[5-9]|5[0-4])\)", page.inner_text("body"))  # the middle of 75 x 100
    page.get_by_role("button", name="drag a rectangle").click()
    page.wait_for_selector(".pd-data-map rect.handle--n", state="attached", timeout=20000)  # the brush is on
    page.mouse.move(*at(0.2, 0.2))
    page.mouse.down()
    page.mouse.move(*at(0.4, 0.45), steps=5)
    page.mouse.move(*at(0.6, 0.7), steps=5)
    page.mouse.up()
    page.wait_for_function("document.body.innerText.includes(' px) (per pixel)')", timeout=20000)
    page.get_by_role("button", name="Crop to rectangle").click()
    page.wait_for_function("document.body.innerText.includes('(cropped: rows')", timeout=30000)
    assert re.search(r"(\d+) x (\d+) pixels", page.inner_text(".phasedash-app"))


def test_export_download_and_reopen_a_session(server, folders, page, tmp_path):
    page.goto(f"{server}/voila/render/phase_mapping.ipynb?map=synthetic:60x80")
    page.wait_for_function("document.body.innerText.includes('60 x 80 pixels')", timeout=90000)
    open_tab(page, "3. Clustering")
    timed_image_change(page, ".pd-cluster-map", lambda: set_slider(page, ".pd-n-clusters", 4))
    open_tab(page, "7. Export")
    page.get_by_role("textbox").last.fill("out")  # a folder in the server's export folder
    page.get_by_role("button", name="Export results").click()
    page.wait_for_selector("a[download='phases.csv']", timeout=30000)
    with page.expect_download() as dl:
        page.click("a[download='session.json']")
    session = tmp_path / "session.json"
    dl.value.save_as(session)
    assert '"n_clusters": 4' in session.read_text()
    out = folders / "exports" / "out"
    assert (out / "phase_map.tif").exists() and (out / "phase_0.msa").exists()
    # a new page, then reopen the saved session: the 4 clusters come back
    page.goto(f"{server}/voila/render/phase_mapping.ipynb")
    page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
    open_tab(page, "7. Export")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Reopen session").click()
    chooser.value.set_files(str(session))
    open_tab(page, "1. Data")  # innerText holds only what is shown
    page.wait_for_function("document.body.innerText.includes('60 x 80 pixels')", timeout=60000)
    open_tab(page, "3. Clustering")
    page.wait_for_function("document.body.innerText.includes('4 clusters')", timeout=30000)


def test_bad_input_shows_a_message_and_the_page_keeps_working(server, page):
    page.goto(f"{server}/voila/render/phase_mapping.ipynb")
    page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
    page.get_by_placeholder("or a file in the server's data folder").fill("/etc/passwd")
    page.get_by_role("button", name="Open path").click()
    page.wait_for_selector(".phasedash-error", timeout=30000)
    assert page.inner_text(".phasedash-error").endswith("passwd: only the data folder can be used from this page.")
    assert "Traceback" not in page.inner_text("body")
    open_tab(page, "4. Phase map")
    timed_image_change(page, ".pd-phase-map", lambda: set_slider(page, ".pd-min-size", 25))
    assert not page.query_selector(".phasedash-error")


def _upload_on_the_practical(server, page, path):
    """Open the practical (P45) and choose ``path`` with its upload button."""
    page.goto(f"{server}/voila/render/phase_mapping.ipynb")
    page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload a map").click()
    chooser.value.set_files([str(p) for p in path] if isinstance(path, list) else str(path))


def test_upload_of_a_map_bigger_than_a_websocket_message(server, page, tmp_path):
    """A 25 MB map through the upload button: sent in 8 MB chunks (Voilà's websocket limit is 10 MB)."""
    from phaselib.datasets import make_rock

    path = tmp_path / "student_map.npy"
    np.save(path, np.asarray(make_rock((100, 120), counts_per_pixel=50, n_channels=1024, seed=2).image.data))
    assert path.stat().st_size > 20 * 2**20
    _upload_on_the_practical(server, page, path)
    page.wait_for_function("document.body.innerText.includes('student_map.npy: 100 x 120 pixels')", timeout=90000)
    assert not page.query_selector(".phasedash-error")


def test_upload_of_a_cubes_fits_frames_chosen_together(server, page, tmp_path):
    """A neutron ToF cube as one FITS frame per bin: the frames chosen together are opened as one cube."""
    from astropy.io import fits

    from phaselib.datasets import make_tof

    cube = make_tof((12, 16), 40, seed=3).image.data.astype(np.float32)
    frames = []
    for i in range(cube.shape[-1]):
        frames.append(tmp_path / f"run_{i}.fits")
        fits.PrimaryHDU(cube[..., i]).writeto(frames[-1])
    _upload_on_the_practical(server, page, frames)
    page.wait_for_function("document.body.innerText.includes('12 x 16 pixels')", timeout=90000)
    assert not page.query_selector(".phasedash-error")


def test_upload_over_the_limit_is_refused_with_a_message(server, page, tmp_path):
    big = tmp_path / "too_big.npy"
    np.save(big, np.zeros(MAX_UPLOAD // 2 + 2**20, np.uint16))  # just over the limit
    _upload_on_the_practical(server, page, big)
    page.wait_for_selector(".phasedash-error", timeout=30000)
    assert "too_big.npy: 32 MB is more than this dashboard takes (30 MB)" in page.inner_text(".phasedash-error")
    assert "75 x 100 pixels" in page.inner_text("body")  # the map open before is still there
    open_tab(page, "4. Phase map")
    timed_image_change(page, ".pd-phase-map", lambda: set_slider(page, ".pd-min-size", 25))  # kernel alive


ICON = """() => { const i = document.querySelector('.phasedash-results button i.fa-th');
    const loaded = [...document.fonts].some(f => f.family.includes('Font Awesome') && f.status === 'loaded');
    return [getComputedStyle(i).fontFamily, i.getBoundingClientRect().width, loaded] }"""


def test_full_map_results_dashboard_in_a_browser(server, page):
    logged = []
    page.on("console", lambda m: logged.append(m.text) if m.type == "error" else None)
    page.goto(f"{server}/voila/render/full_map.ipynb")
    page.wait_for_function("document.body.innerText.includes('1295 x 1820 pixels')", timeout=90000)
    # the buttons' icons (Font Awesome, from Voilà's own files): "Separate grains" shows its grid
    page.wait_for_function(f"({ICON})()[2]", timeout=20000)
    family, width, loaded = page.evaluate(ICON)
    assert "Font Awesome" in family and width > 5 and loaded
    assert image_href(page, ".pd-results-phase-map")
    timed_image_change(page, ".pd-results-phase-map",
                       lambda: page.get_by_role("button", name="fuzzy-cmeans").click())
    page.wait_for_function("document.body.innerText.includes('fuzzy-cmeans: 6 phases')")
    assert not logged, logged  # no failed request (no CDN), no plot drawn at a negative size


def _wait_gone(server, kernel, timeout):
    t0 = time.time()
    while kernel in kernel_processes(server.proc.pid):
        assert time.time() - t0 < timeout, f"kernel still running after {timeout} s"
        time.sleep(0.5)
    return time.time() - t0


def test_closed_pages_free_their_kernels_and_uploads(server, folders, chromium, tmp_path):
    """A page closed as a browser closes it frees its kernel at once; a page lost without a word (a crash,
    a laptop put to sleep) is culled; the map it uploaded goes with its kernel."""
    from phaselib import save
    from phaselib.datasets import make_rock

    path = save(make_rock((30, 40), seed=3).image, tmp_path / "mine.hspy")
    lost = chromium.new_context()
    lost.set_default_timeout(90000)
    page = lost.new_page()
    _upload_on_the_practical(server, page, path)
    page.wait_for_function("document.body.innerText.includes('mine.hspy: 30 x 40 pixels')", timeout=90000)
    kernel = page_kernel_id(page)
    assert kernel in kernel_processes(server.proc.pid)
    assert list((folders / "data" / "uploads").glob("*/mine.hspy"))
    lost.close()  # no beforeunload: the server only sees the connection drop
    assert CULL - 5 < _wait_gone(server, kernel, CULL + 60)
    assert not list((folders / "data" / "uploads").glob("*/mine.hspy"))  # removed when its kernel ended
    closed = chromium.new_context()
    closed.set_default_timeout(90000)
    page = closed.new_page()
    page.goto(f"{server}/voila/render/phase_mapping.ipynb")
    page.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
    kernel = page_kernel_id(page)
    page.close(run_before_unload=True)  # as a browser closes a tab
    assert _wait_gone(server, kernel, 30) < CULL - 5
    closed.close()


def test_a_neutron_tof_cube_in_a_browser(server, page):
    """The second classroom example: a transmission cube on a wavelength axis, no X-ray lines, its
    regions told apart by their Bragg edges."""
    page.goto(f"{server}/voila/render/phase_mapping.ipynb?map=synthetic-tof:64x64")
    page.wait_for_function("document.body.innerText.includes('64 x 64 pixels x 661 channels')", timeout=120000)
    text = page.inner_text(".phasedash-app")
    assert "64 x 64 pixels x 661 channels, Wavelength 1-5 Å, intensity; pixel" in text and " kV" not in text
    assert "Phase mapping of a spectral cube" in text and "EDS" not in text.split("\n")[0]
    page.wait_for_function("document.body.textContent.includes('Wavelength (Å)')", timeout=30000)  # the axis
    page.locator(".pd-bragg select").select_option("Fe-bcc")  # iron's (110) edge marked at 4.05 Å
    page.wait_for_function("[...document.querySelectorAll('svg text')].some(t => t.textContent.trim() === '110')",
                           timeout=30000)
    page.locator(".pd-lattice input").fill("fcc 3.524")  # a lattice the student types: nickel's (111)
    page.locator(".pd-lattice input").press("Enter")
    page.wait_for_function("[...document.querySelectorAll('svg text')].some(t => t.textContent.trim() === '111')",
                           timeout=30000)
    open_tab(page, "3. Clustering")
    page.wait_for_function("/5 clusters \\(/.test(document.body.innerText)", timeout=60000)
    open_tab(page, "4. Phase map")
    page.wait_for_function("/5 phases; ARI vs truth/.test(document.body.innerText)", timeout=60000)
    assert not page.locator(".pd-name-minerals").is_visible()  # minerals are named from X-ray lines only
    # every step's guide is the cube's: Bragg edges and materials, not element lines and Mindat
    text = page.inner_text(".phasedash-app")
    assert "Which material is each region?" in text and "Mindat" not in text
    open_tab(page, "1. Data")
    text = page.inner_text(".phasedash-app")
    assert "Which Bragg edges does the mean spectrum show?" in text and "Si K" not in text
