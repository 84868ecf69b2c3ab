"""The package's architecture, checked: layers, no import circles, small files, public paths."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "phaselib"

#: each top-level part of phaselib and its layer: a module may import only parts of lower layers
#: (and its own part); the public ``phaselib/__init__.py`` and ``__main__`` sit above everything
LAYERS = {
    "_image": 0, "_validate": 1, "_lines": 1, "_serialize": 1, "_atomic": 1, "_hyperspy": 1,
    "_spot_noise": 1.5, "_stream": 2, "render": 2, "tiles": 2, "spots": 2,
    "io": 3, "preprocess": 3, "datasets": 3, "cluster": 3, "segment": 3, "morphology": 3, "compare": 3,
    "quantify": 3,
    "decompose": 4, "identify": 4,
    "refine": 4,
    "lowcount": 5, "_intensity": 5.5, "_finish": 5.5,
    "classify": 6,
    "pipeline": 6,
    "results": 7, "deep": 7,
    "_cli": 8,
    "__init__": 9, "__main__": 10,
}


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(name):
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def _exists(name):
    return _is_package(name) or (ROOT / Path(*name.split("."))).with_suffix(".py").exists()


def _imports(path):
    """Every phaselib module imported by the file at ``path`` (top-level and inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "phaselib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "phaselib":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")]
            out |= set(subs) if subs and len(subs) == len(node.names) else {target, *subs}
    return out


def _graph():
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _part(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_has_a_layer():
    parts = {_part(m) for m in _graph()}
    assert parts <= set(LAYERS), f"parts without a layer: {sorted(parts - set(LAYERS))}"


def test_no_module_imports_upward():
    bad = [(m, t) for m, targets in _graph().items() for t in targets
           if _part(t) != _part(m) and LAYERS[_part(t)] >= LAYERS[_part(m)]]
    assert not bad, "imports of a part from the same or a higher layer: " + ", ".join(f"{m} -> {t}" for m, t in bad)


def test_no_import_circles():
    graph = _graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_the_checker_sees_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The two checks above can fail: they do on a package made to break them."""
    pkg = tmp_path / "phaselib"
    (pkg / "cluster").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cluster" / "__init__.py").write_text("from ._a import f\n")
    (pkg / "cluster" / "_a.py").write_text("from ._b import g\n")
    (pkg / "cluster" / "_b.py").write_text("def g():\n    from ._a import f\n    from ..pipeline import x\n")
    (pkg / "pipeline.py").write_text("x = 1\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    with pytest.raises(AssertionError, match=r"import circles: \[\['phaselib.cluster._a', 'phaselib.cluster._b'\]\]"):
        test_no_import_circles()
    with pytest.raises(AssertionError, match="phaselib.cluster._b -> phaselib.pipeline"):
        test_no_module_imports_upward()


@pytest.mark.parametrize("folder", ["phaselib", "dashboards", "benchmarks"])
def test_no_file_over_400_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"files over 400 lines: {long}"


@pytest.mark.parametrize("path", [
    "phaselib.load", "phaselib.save", "phaselib.SpectrumImage", "phaselib.iter_bcf_rows", "phaselib.bcf_to_zspy",
    "phaselib.io.load", "phaselib.io.save",
    "phaselib.preprocess.crop", "phaselib.preprocess.bin_spatial", "phaselib.preprocess.bin_energy",
    "phaselib.preprocess.energy_window", "phaselib.preprocess.calibrate_energy",
    "phaselib.preprocess.tilt_corrected_pixel_size", "phaselib.preprocess.poisson_weights",
    "phaselib.datasets.make_rock", "phaselib.datasets.write_rock", "phaselib.datasets.make_discs",
    "phaselib.datasets.sample_path",
    "phaselib.decompose.pca", "phaselib.decompose.nmf", "phaselib.decompose.ica", "phaselib.decompose.Decomposition",
    "phaselib.cluster.kmeans", "phaselib.cluster.gmm", "phaselib.cluster.fuzzy_cmeans",
    "phaselib.cluster.estimate_n_clusters",
    "phaselib.segment.abundances", "phaselib.segment.otsu_thresholds", "phaselib.segment.masks_from_maps",
    "phaselib.segment.labels_from_masks", "phaselib.segment.labels_from_memberships",
    "phaselib.quantify.phase_spectra", "phaselib.quantify.modal_fractions", "phaselib.quantify.identify_lines",
    "phaselib.quantify.save_msa", "phaselib.lowcount.map_lowcount",
    "phaselib.morphology.separate_grains", "phaselib.morphology.grain_map", "phaselib.morphology.grain_table",
    "phaselib.morphology.size_statistics", "phaselib.morphology.crystal_size_distribution",
    "phaselib.morphology.score_grains", "phaselib.results.precompute", "phaselib.results.load_results",
    "phaselib.pipeline.map_phases", "phaselib.pipeline.PhaseMap",
])
def test_documented_import_paths(path):
    module, name = path.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))


def test_public_modules_declare_all():
    for name in ["io", "preprocess", "datasets", "decompose", "cluster", "segment", "quantify", "compare",
                 "lowcount", "morphology", "pipeline", "render"]:
        module = importlib.import_module(f"phaselib.{name}")
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert module.__all__ and not missing, (name, missing)


def test_every_public_part_is_reached_from_the_package_alone():
    """``import phaselib; phaselib.datasets...``: each public part on first use (heavy ones not before)."""
    import pkgutil
    import subprocess
    import sys

    public = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.name.startswith("_"))
    code = ("import sys, phaselib; early = [m in sys.modules for m in ('phaselib.datasets', 'phaselib.deep', "
            "'phaselib.classify', 'torch')]; "
            f"names = [getattr(phaselib, n).__name__ for n in {public!r}]; "
            "print(early == [False] * 4, 'torch' in sys.modules, ','.join(names), 'datasets' in dir(phaselib))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["True", "False", ",".join(f"phaselib.{n}" for n in public), "True"]
    import phaselib

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        phaselib.nothing  # noqa: B018


def test_binder_installs_what_the_dashboards_need_with_pyprojects_ranges():
    """binder/requirements.txt (postBuild installs phaselib with --no-deps) holds phaselib's dependencies and the
    dashboards' and Panel's extras, each with the range pyproject.toml pins: a range changed in one place only, or a
    dependency added to pyproject alone, would give the class a Binder that fails or differs from the tests'."""
    import re

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        r for extra in ("dashboards", "panel") for r in project["optional-dependencies"][extra]
        if not r.startswith("phaselib")]
    lines = [ln.strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()]
    held = [ln for ln in lines if ln and not ln.startswith("#")]

    def key(r):
        return re.sub(r"\s+", "", r).lower()

    assert sorted(map(key, held)) == sorted(map(key, wanted))
    assert "--no-deps" in (ROOT / "binder" / "postBuild").read_text()


def test_binder_kernels_run_blas_on_one_thread_and_start_what_binder_asks():
    """A Binder pod's CPU quota is a core or two while numpy sees the host's cores: binder/start gives each kernel
    one BLAS/OpenMP thread, as scripts/serve.sh does the class server, and then runs the command Binder gives it."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([str(ROOT / "binder" / "start"), "env"], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    got = dict(ln.split("=", 1) for ln in out.stdout.splitlines() if "=" in ln)
    assert all(got.get(k) == "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")), got
