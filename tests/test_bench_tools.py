"""The benchmark helpers a user runs by hand answer --help and a missing command in words."""

import pytest

from benchmarks import peak_memory


def test_peak_memory_help_and_a_missing_command(capsys):
    """`python -m benchmarks.peak_memory --help` ran '--help' as the command and ended in a FileNotFoundError
    traceback; a command that does not exist did the same."""
    assert peak_memory.main(["--help"]) == 0
    assert "peak memory" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="could not run 'no-such-command-here'"):
        peak_memory.main(["--", "no-such-command-here"])
    assert peak_memory.main(["--", "true"]) == 0
