"""Benchmarks of phaselib (against HyperSpy 2.5 where both do the same work); see ``README.md``.

Every script runs as a module from the repository root::

    python -m benchmarks.bench_core --only phaselib --repeat 1
    python -m benchmarks.bench_scale --help

Scripts: ``bench_core`` (each stage, classroom-size maps), ``bench_scale`` (up to the full map),
``bench_grains`` (grain separation against known grains), ``bench_dashboard`` and ``bench_upload``
(the dashboards in a real browser), ``peak_memory`` (time and peak memory of any command) and
``hyperspy_map`` (the HyperSpy equivalent of ``python -m phaselib map``, bench_core's child).

Shared helpers, private modules imported as ``from benchmarks._measure import ...``:

- ``_paths``: where things are (the repository root, ``_work/``, ``results/``);
- ``_measure``: running and measuring child processes (peak memory in the child or polled over
  the process tree, memory caps, time-outs, waiting for a quiet machine);
- ``_env``: the environment a result was measured in (machine, versions, phaselib's source digest);
- ``_maps``: the synthetic maps (calibration, writing them once and reusing them, their truth);
- ``_hyperspy``: the HyperSpy calls every HyperSpy child makes alike;
- ``_report``: medians, number formatting, the command line and ``write_results`` (``results/*.json``).

One benchmark's own parts: ``_core_child`` and ``_core_report`` (bench_core); ``_scale_runs``,
``_scale_child`` and ``_scale_report`` (bench_scale).
"""
