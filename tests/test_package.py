import subprocess
import sys

import neurocontrol
from neurocontrol import cli


def test_version_is_set():
    assert neurocontrol.__version__ != "0.0.0+unknown"


def test_cli_version(capsys):
    try:
        cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert neurocontrol.__version__ in capsys.readouterr().out


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "neurocontrol", "--help"], capture_output=True, text=True, check=True).stdout
    assert "plant-demo" in out
