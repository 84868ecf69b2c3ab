"""The Panel dashboard (dashboards/phasedash/panelapp): its objects in-process, then ``panel serve`` in a
real browser (Debian chromium through Playwright)."""

import asyncio
import io
import zipfile

import numpy as np
import pytest
from _panel_server import panel_server
from _voila import browser
from phasedash.panelapp import PanelApp, check_map_name, shared

SMALL = "synthetic:60x80"


@pytest.mark.parametrize("name, expected", [("sample:P45", "sample:P45"), ("synthetic:200x300", "synthetic:200x300"),
                                            (" synthetic:200X300:20 ", "synthetic:200x300:20")])
def test_map_names_a_page_may_ask_for(name, expected):
    assert check_map_name(name) == expected


@pytest.mark.parametrize("name, message", [
    ("synthetic:2x80000", "each side must be between 4 and 400"),
    ("synthetic:400x401", "each side must be between 4 and 400"),
    ("synthetic:200x300:1e9", "named 'synthetic:HxW'"),
    ("synthetic:200x300:50000", "between 1 and 10000"),
    ("synthetic:lots", "named 'synthetic:HxW'"),
    ("/etc/passwd", "bundled and synthetic maps only"),
    ("../../data/map.bcf", "bundled and synthetic maps only"),
    ("sample:../../P45", "Unknown bundled map"),
])
def test_map_names_refused(name, message):
    with pytest.raises(ValueError, match=message):
        check_map_name(name)


def _run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture(scope="module")
def first():
    """A session's app on a small synthetic rock (its first look is computed here, once)."""
    app = PanelApp(SMALL)
    assert _run(app.start())
    return app


def _majority_names(session):
    """The true mineral under most pixels of each phase of the session's map."""
    names = []
    for i in range(int(session.labels.max()) + 1):
        true = session.truth[session.labels == i]
        names.append(session.phase_names[np.bincount(true[true >= 0]).argmax()])
    return names


def test_first_look_texts_and_truth(first):
    s = first.session
    assert "<b>synthetic:60x80</b>: 60 x 80 pixels x 2048 channels" in first.data.info.object
    assert "energy axis: 2048 channels from -0.200 to 20.27 keV" in first.data.energy.object
    k = s.clustering.n_clusters
    assert k == len(s.phase_names) == 6  # the rock's six minerals
    assert f"{k} clusters (kmeans)" in first.clustering.title.object
    assert f"60 x 80 pixels &middot; {k} clusters" in first.summary.object
    assert s.accuracy() > 0.95 and "ARI vs truth" in first.phase_map.title.object
    # the minerals named in the table and the legend are the true ones of each phase
    names = [m.best for m in s.minerals]
    assert names == _majority_names(s)
    assert all(n in first.phase_map.table.object for n in names)
    assert first.phase_map.map.legend_source.data["label"][:k] == [f"phase {i}: {n}" for i, n in enumerate(names)]
    # the scree plot: explained variance and the noise line, the suggested number marked
    scree = first.decomposition.scree
    assert scree.source.data["label"] == ["explained variance", "Poisson noise"]
    assert scree.spans[0].visible and scree.spans[0].location == s.pca.suggested_n_components + 0.5


def test_sessions_share_the_first_look_read_only_and_change_privately(first):
    other = PanelApp(SMALL)
    assert _run(other.start())
    a, b = first.session, other.session
    assert a is not b and a.image is b.image and a.pca is b.pca  # one copy of the map and its PCA
    assert not b.image.data.flags.writeable and not b.labels.flags.writeable
    k = b.clustering.n_clusters
    assert _run(other.cluster("kmeans", k - 2))
    assert f"{k - 2} clusters (kmeans)" in other.clustering.title.object
    assert int(other.session.labels.max()) + 1 == k - 2
    assert first.session.clustering.n_clusters == k  # the other student's map is untouched
    assert int(first.session.labels.max()) + 1 == k
    # a phase-map change, a decomposition change and the minerals, all private
    assert _run(other.phases(min_size=30)) and other.session.min_size == 30 and first.session.min_size == 0
    assert _run(other.decompose("NMF", 4)) and other.session.decomposition.algorithm == "nmf"
    assert first.session.decomposition.algorithm == "pca"
    assert _run(other.name_minerals()) and len(other.session.minerals) == int(other.session.labels.max()) + 1


def test_bad_requests_leave_a_message_and_the_session(first):
    app = PanelApp(SMALL)
    assert _run(app.start())
    before = app.session.clustering
    assert not _run(app.cluster("kmeans", 50))
    assert "number of clusters must be between 2 and" in app.message.object
    assert app.session.clustering is before and "6 clusters" in app.clustering.title.object
    assert not _run(app.open("synthetic:2x80000"))
    assert "2 x 80000 pixels is refused" in app.message.object and app.session.clustering is before
    assert _run(app.cluster("kmeans", 5)) and app.message.object == ""  # the page keeps working
    page = PanelApp("/etc/passwd")
    assert not _run(page.start())
    assert "bundled and synthetic maps only" in page.message.object and "root" not in page.message.object


def test_export_is_one_zip_in_memory(first):
    assert _run(first.export())
    data = first.export_step.download.file.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        table = z.read("phases.csv").decode()
    k = int(first.session.labels.max()) + 1
    assert {"phase_map.png", "phase_map.tif", "phases.csv", "session.json"} <= set(names)
    assert sum(n.endswith(".msa") for n in names) == k
    assert len(table.strip().splitlines()) == 1 + k + 1  # header, phases, unassigned
    assert first.export_step.download.visible


def test_the_criteria_plot_is_drawn_once_estimated():
    app = PanelApp(SMALL)
    assert _run(app.start())
    step = app.clustering
    assert not step.curves_pane.visible and "Estimate the number" in step.curves_note.object  # no empty plot
    assert _run(app.estimate())
    assert step.curves_pane.visible and not step.curves_note.visible
    assert len(step.curves.source.data["ys"]) == len(app.session.estimate.scores) >= 2
    assert all(f"(best {b})" in " ".join(step.curves.source.data["label"]) for b in app.session.estimate.best.values())


def test_first_looks_are_bounded(first):
    cache = shared._cache()
    assert SMALL in cache and len(cache) <= shared.MAX_TEMPLATES


def test_panel_serve_in_a_browser():
    """``panel serve``: open a synthetic rock, read its size and clusters, change the number of clusters."""
    with panel_server() as url, browser() as chromium:
        page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}?map=synthetic:200x300")
        page.locator(".pd-data-info").get_by_text("200 x 300 pixels").wait_for(timeout=90000)
        page.locator(".bk-tab", has_text="3. Clustering").click()
        title = page.locator(".pd-cluster-title")
        title.get_by_text("6 clusters").wait_for(timeout=30000)
        page.locator(".pd-n-clusters .noUi-handle").focus()
        page.keyboard.press("ArrowLeft")  # 6 -> 5, as a student does with the keyboard
        title.get_by_text("5 clusters").wait_for(timeout=30000)
        page.locator(".pd-summary").get_by_text("5 clusters").wait_for(timeout=10000)
        # a map the server refuses: a message, no traceback
        page.goto(f"{url}?map=synthetic:2x80000")
        page.locator(".phasedash-error").wait_for(timeout=30000)
        assert "2 x 80000 pixels is refused" in page.locator(".phasedash-error").inner_text()
        assert "Traceback" not in page.locator(".phasedash-panel").inner_text()
        assert not errors, errors


def test_the_phase_map_lists_what_the_phase_tests_did():
    """As on the Voilà page: the spatial prior's tests (added, split, merged, dissolved) are listed under
    the phase map's title, one line each, and the list goes when the phases come from component maps."""
    from phaselib.refine import describe_change

    app = PanelApp("synthetic:120x160:20")
    assert _run(app.start())
    assert _run(app.phases(source="spatial"))
    s = app.session
    assert s.phase_source == "spatial" and s.refinement
    text = app.phase_map.changes.object
    assert "Phases tested" in text and all(describe_change(c).split(":")[0] in text for c in s.refinement)
    assert _run(app.phases(source="loadings"))
    assert app.phase_map.changes.object == ""
