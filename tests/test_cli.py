"""The ``loadsense`` command as users run it: clear one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from loadsense.bench.harness import loadsense_command
from tests.support.service import service_process

pytestmark = pytest.mark.slow  # each test runs the command line as a process

ROOT = Path(__file__).parents[1]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        loadsense_command(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_refuses_to_expose_without_tokens(tmp_path: Path) -> None:
    result = _run("serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("loadsense: error: refusing to listen on 0.0.0.0")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "db").exists()  # refused before touching storage


def test_unknown_config_key_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("prot: 1\n")
    result = _run("serve", "--config", str(cfg), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "unknown setting 'prot'" in result.stderr and "Traceback" not in result.stderr


def test_second_process_on_a_data_dir_gets_a_clear_message(tmp_path: Path) -> None:
    with service_process(tmp_path) as svc:
        assert httpx.get(f"{svc.url}/readyz").status_code == 200
        result = _run("serve", "--data-dir", str(tmp_path), "--port", "0")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("loadsense: error: embedded storage at ")
        assert str((tmp_path / "db").resolve()) in lines[-1]
        assert "in use by another process" in lines[-1]
        assert "Traceback" not in result.stderr
        code, out = svc.terminate()
        # uvicorn re-raises SIGTERM after its graceful shutdown, hence -15
        assert code in (0, -15)
        assert "write queue flushed" in out
