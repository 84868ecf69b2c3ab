"""The Label step in a real browser: paint two classes (a dot, a rectangle), train, see the confusion matrix."""

import re

import pytest
from _voila import browser, image_href, open_tab, voila_server, wait_image_change


@pytest.fixture(scope="module")
def page():
    with voila_server() as url, browser() as b:
        ctx = b.new_context(viewport={"width": 1400, "height": 1100})
        pg = ctx.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{url}/voila/render/phase_mapping.ipynb", timeout=120000)
        pg.wait_for_function("document.body.innerText.includes('75 x 100 pixels')", timeout=90000)
        yield pg
        ctx.close()
        assert not errors, errors


def test_paint_train_and_see_the_confusion_matrix(page):
    open_tab(page, "8. Label")
    canvas = page.locator(".pd-label-paint image")
    canvas.wait_for(timeout=30000)
    box = canvas.bounding_box()
    at = lambda fx, fy: (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)  # noqa: E731
    # class 0: a dot (radius 1: 5 pixels) and a second one
    page.mouse.click(*at(0.15, 0.2))
    page.wait_for_function("document.querySelector('.pd-label-count').innerText.includes('class 0 5')",
                           timeout=20000)
    page.mouse.click(*at(0.3, 0.25))
    page.wait_for_function("document.querySelector('.pd-label-count').innerText.includes('class 0 10')",
                           timeout=20000)
    # class 1: a rectangle dragged on the map
    page.select_option(".pd-label-class select", label="1: class 1")
    page.get_by_role("button", name="paint rectangles").click()
    page.wait_for_selector(".pd-label-paint rect.handle--n", state="attached", timeout=20000)
    page.mouse.move(*at(0.7, 0.7))
    page.mouse.down()
    page.mouse.move(*at(0.75, 0.75), steps=4)
    page.mouse.move(*at(0.8, 0.8), steps=4)
    page.mouse.up()
    page.wait_for_function("!document.querySelector('.pd-label-count').innerText.includes('class 1 0')",
                           timeout=20000)
    painted = page.inner_text(".pd-label-count")
    n1 = int(re.search(r"class 1 (\d+)", painted).group(1))
    assert 20 <= n1 <= 200, painted  # about a tenth of the rows times a tenth of the columns
    # train: the classified map, the confusion matrix and the per-class scores appear
    before = image_href(page, ".pd-label-map")
    page.click(".pd-label-train")
    page.wait_for_selector(".pd-label-scores .pd-confusion", timeout=60000)
    wait_image_change(page, ".pd-label-map", before)
    text = page.inner_text(".pd-label-scores")
    assert "balanced accuracy (cross-validated)" in text and "F1" in text
    assert re.search(r"EM steps kept: [1-6] of 6", text), text  # the poisson classifier's step, chosen on the folds
    cells = page.locator(".pd-confusion td").all_inner_texts()
    assert len(cells) == 4 and sum(int(c) for c in cells) == 10 + n1


def test_painted_labels_travel_in_the_session_file():
    """The Label step's pixels, names and classifier are saved, and reopening trains again (no browser)."""
    import json

    import numpy as np
    from phasedash import Session
    from phasedash.panels.label import train

    s = Session()
    s.load("synthetic:60x80:20")
    paint = np.full((60, 80), -1, np.int16)
    for c in range(int(s.truth.max()) + 1):
        rows, cols = np.nonzero(s.truth == c)
        paint[rows[:20], cols[:20]] = c
    s.paint, s.label_names = paint, [f"phase {c}" for c in range(int(s.truth.max()) + 1)]
    result = train(s, "poisson")
    assert (result.labels == s.truth).mean() > 0.9
    again = Session().restore(json.loads(json.dumps(s.to_dict())))
    assert again.supervised[0].classifier == "poisson" and list(again.label_names) == list(s.label_names)
    np.testing.assert_array_equal(again.paint, paint)
    np.testing.assert_array_equal(again.supervised[0].labels, result.labels)


def test_paint_is_cleared_by_another_map_of_the_same_size_and_by_a_crop():
    """Painted pixels name pixels of one map: another map of the same size, or a crop, starts unpainted."""
    import numpy as np
    from phasedash import Session

    s = Session()
    s.load("synthetic:60x80:20")
    s.paint = np.zeros((60, 80), np.int16)
    s.label_names = ["a", "b"]
    s.load("synthetic:60x80:50")  # same size, other counts
    assert s.paint is None and s.supervised is None and list(s.label_names) == ["a", "b"]
    s.paint = np.zeros((60, 80), np.int16)
    s.crop((0, 60), (0, 80))  # a crop of the whole map: same shape, coordinates that may differ
    assert s.paint is None


def test_a_dragged_rectangle_paints_the_pixels_the_data_step_reads():
    """The same drag read rows 15:30, columns 20:40 (300 px) on the data step and painted 336 px (16 x 21) on the
    Label step: a rectangle drawn up to a phase boundary labelled a line of the next phase."""
    from phasedash import App

    a = App("synthetic:60x80:20", background=False)
    panel = a.label
    panel.brushed(15, 30, 20, 40)
    assert int((a.session.paint >= 0).sum()) == 300
    panel.brushed(50, 50, 70, 70)  # a click-sized drag paints its pixel
    assert int((a.session.paint >= 0).sum()) == 301
