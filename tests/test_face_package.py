"""`datasette package`, `datasette publish cloudrun` and `datasette publish heroku`, run as
docs/publishing.md gives them, serve the same face as `datasette serve -i`.

Datasette's own CLI makes what it would send away (the docs' command lines, read from the docs): the one
step that needs a docker daemon or a cloud account, `docker build .` or `gcloud builds submit`, is taken by a
recorder that keeps the build context it is handed; Heroku's files are written by `--generate-dir`, Datasette's
own stop before deploying. Then what they say is done outside docker and Heroku, in a fresh venv with its
bundled pip: each RUN line of the Dockerfile by `/bin/sh -c` in the context folder (pip installs the archiver
wheel built from this checkout; the dependencies come, without a package index, from the wheels of this test
environment, at the versions the tests run with), then the CMD line on a loopback port; for Heroku, its
requirements.txt, bin/post_compile and the Procfile's web command. Each face passes the checks of
tests/test_face_plugin.py, the very tests, collected here with this module's server. Where a docker daemon
answers, the image itself is built and run too."""

from __future__ import annotations

import filecmp
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import tests.test_face_plugin as served
from scripts.check_wheel import build_wheel, fresh_venv
from tests.installed_wheels import wheelhouse
from tests.test_publish import Server, free_port, start_datasette

ROOT = Path(__file__).resolve().parent.parent
WHEEL = "archiver-0.1.0-py3-none-any.whl"  # what `pip wheel` makes of this checkout, named in the docs
DOC = (ROOT / "docs" / "publishing.md").read_text(encoding="utf-8")
# an operator's own setting, given as the docs say: it must win over the project's (the checks expect 5)
OPERATOR_SETTING = ["--extra-options", "--setting default_page_size 5"]
# the one step that needs a daemon or an account: records the call, keeps the build context it is handed
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$RECORDED/calls"
case "$1 $2" in
  "build "*|"builds submit") cp -R . "$RECORDED/context" ;;
  "config get-value") echo archive-project ;;
  "plugins ") echo heroku-builds ;;
esac
"""

built = served.built
# The checks `datasette serve -i` passes: the same functions, run here against the packaged face.
test_post_page_search_and_css = served.test_post_page_search_and_css
test_metadata_follows_the_database_whatever_its_name = served.test_metadata_follows_the_database_whatever_its_name
test_canned_queries_and_feed = served.test_canned_queries_and_feed
test_settings_and_bounds_are_applied = served.test_settings_and_bounds_are_applied
FACE_CHECKS = (test_post_page_search_and_css, test_metadata_follows_the_database_whatever_its_name,
               test_canned_queries_and_feed, test_settings_and_bounds_are_applied)


def documented(command: str, snapshot: Path, dist: Path) -> list[str]:
    """The docs' command line starting with `command`, for this snapshot and this wheel folder."""
    lines = [line for line in DOC.splitlines() if line.startswith(command + " ")]
    assert len(lines) == 1, f"docs/publishing.md gives {len(lines)} `{command}` lines"
    places = {"public.db": str(snapshot), "dist": str(dist)}
    return [places.get(part, part) for part in shlex.split(lines[0])]


def recorded_run(argv: list[str], folder: Path) -> tuple[Path, list[str]]:
    """Runs the Datasette CLI `argv` with docker, gcloud and heroku recorded: the build context and the calls."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("docker", "gcloud", "heroku"):
        (bin_dir / name).write_text(RECORDER, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RECORDED": str(folder)}
    done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "context", (folder / "calls").read_text(encoding="utf-8").splitlines()


def instructions(context: Path) -> list[tuple[str, str]]:
    lines = (context / "Dockerfile").read_text(encoding="utf-8").splitlines()
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in lines if line.strip()]


def run(command: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])


def run_dockerfile(context: Path, env: dict[str, str]) -> str:
    """Does what the Dockerfile says, in `context` as its /app, adding its ENV lines to `env`; returns its
    CMD. An instruction this cannot do fails the test: nothing of the Dockerfile is skipped."""
    cmd = None
    for instruction, argument in instructions(context):
        if instruction == "FROM":
            assert argument.startswith("python:3."), argument  # a Python image: the venv's Python stands in
        elif instruction in ("COPY", "WORKDIR"):
            assert (instruction, argument) in (("COPY", ". /app"), ("WORKDIR", "/app")), argument
        elif instruction == "ENV":
            name, value = shlex.split(argument)
            env[name] = value
        elif instruction == "RUN":
            run(argument, context, env)
        elif instruction == "EXPOSE":
            assert argument == env["PORT"]
        elif instruction == "CMD":
            cmd = argument
        else:
            pytest.fail(f"a Dockerfile instruction this test does not do: {instruction} {argument}")
    assert cmd is not None
    return cmd


def run_heroku_app(app: Path, env: dict[str, str]) -> str:
    """Does what Heroku's Python build does with the app folder (install its requirements.txt, then run
    bin/post_compile); returns the Procfile's web command."""
    assert (app / "runtime.txt").read_text(encoding="utf-8").startswith("python-3.")
    run("pip install -r requirements.txt", app, env)
    run("sh bin/post_compile", app, env)
    kind, web = (app / "Procfile").read_text(encoding="utf-8").split(": ", 1)
    assert kind == "web"
    return web


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    build_wheel(folder)
    assert [path.name for path in folder.iterdir()] == [WHEEL]
    return folder


@pytest.fixture(scope="module")
def packaged(built: served.Built, dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    argv = documented("datasette package", built.path, dist) + OPERATOR_SETTING
    context, calls = recorded_run(argv, tmp_path_factory.mktemp("package"))
    tag = argv[argv.index("-t") + 1]
    assert calls == [f"docker build -t {tag} ."]
    return context


@pytest.fixture(scope="module")
def heroku_app(built: served.Built, dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("heroku")
    argv = documented("datasette publish heroku", built.path, dist) + OPERATOR_SETTING
    _, calls = recorded_run([*argv, "--generate-dir", str(folder / "app")], folder)
    assert calls == ["heroku plugins"]  # Datasette checks for the builds plugin, then stops before deploying
    return folder / "app"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a fresh venv whose pip installs from local wheels only, never an index."""
    scratch = tmp_path_factory.mktemp("venv")
    bin_dir = fresh_venv(scratch / "venv", sys.executable)
    wheels = wheelhouse(scratch / "wheels")
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(bin_dir.parent),
               PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@pytest.fixture(scope="module", params=["package", "publish heroku"])
def server(request: pytest.FixtureRequest, venv: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The face as the Docker image (Cloud Run's too) or the Heroku app serves it, in the same venv:
    the Dockerfile installs first, Heroku's requirements then find what they name installed."""
    app = tmp_path_factory.mktemp("app") / "app"
    env = dict(venv)
    if request.param == "package":
        shutil.copytree(request.getfixturevalue("packaged"), app)
        cmd = run_dockerfile(app, env)
    else:
        shutil.copytree(request.getfixturevalue("heroku_app"), app)
        cmd = run_heroku_app(app, env)
    # the app listens on every address; here only loopback, on a free port (docker run -e PORT=..., Heroku)
    assert cmd.startswith("datasette serve --host 0.0.0.0 ")
    port = free_port()
    env["PORT"] = str(port)
    running = start_datasette(["/bin/sh", "-c", "exec " + cmd.replace("--host 0.0.0.0", "--host 127.0.0.1", 1)],
                              f"http://127.0.0.1:{port}", cwd=app, env=env)
    yield running
    running.stop()


def test_the_build_context_holds_the_snapshot_the_wheel_and_the_operators_metadata(
        packaged: Path, built: served.Built, dist: Path) -> None:
    files = {str(path.relative_to(packaged)) for path in packaged.rglob("*") if path.is_file()}
    assert files == {"Dockerfile", "metadata.json", f"{served.NAME}.db", f"plugins/{WHEEL}"}
    assert filecmp.cmp(packaged / f"{served.NAME}.db", built.path, shallow=False)
    assert filecmp.cmp(packaged / "plugins" / WHEEL, dist / WHEEL, shallow=False)
    operator = yaml.safe_load((ROOT / "config" / "datasette" / "metadata.yml").read_text(encoding="utf-8"))
    assert json.loads((packaged / "metadata.json").read_text(encoding="utf-8")) == operator
    runs = [argument for instruction, argument in instructions(packaged) if instruction == "RUN"]
    assert runs[0] == f"pip install -U datasette plugins/{WHEEL}"


def test_heroku_gets_the_same_files_and_requirements(packaged: Path, heroku_app: Path) -> None:
    dockerfile = {str(path.relative_to(packaged)) for path in packaged.rglob("*") if path.is_file()}
    heroku = {str(path.relative_to(heroku_app)) for path in heroku_app.rglob("*") if path.is_file()}
    assert heroku - dockerfile == {"Procfile", "runtime.txt", "requirements.txt", "bin/post_compile"}
    assert dockerfile - heroku == {"Dockerfile"}
    for name in dockerfile - {"Dockerfile"}:
        assert filecmp.cmp(packaged / name, heroku_app / name, shallow=False), name
    runs = [argument for instruction, argument in instructions(packaged) if instruction == "RUN"]
    requirements = (heroku_app / "requirements.txt").read_text(encoding="utf-8").split()
    assert ["pip", "install", "-U", *requirements] == runs[0].split()


def test_publish_cloudrun_hands_over_the_same_build_context(packaged: Path, built: served.Built, dist: Path,
                                                            tmp_path: Path) -> None:
    argv = documented("datasette publish cloudrun", built.path, dist) + OPERATOR_SETTING
    context, calls = recorded_run(argv, tmp_path)
    service = argv[argv.index("--service") + 1]
    image = f"us-docker.pkg.dev/archive-project/datasette/datasette-{service}"
    assert f"gcloud builds submit --tag {image}" in calls
    assert f"gcloud run deploy --allow-unauthenticated --platform=managed --image {image} {service}" in calls[-1]
    compared = filecmp.dircmp(packaged, context)
    assert compared.left_only == compared.right_only == [] and compared.diff_files == ["Dockerfile"]
    assert not compared.subdirs["plugins"].diff_files
    # the Dockerfile differs only by its random secret and Cloud Run's https URLs
    tested, published = instructions(packaged), instructions(context)
    secret = [item for item in tested if item[1].startswith("DATASETTE_SECRET ")]
    assert len(secret) == 1 and tested.count(secret[0]) == 1
    different = [(a, b) for a, b in zip(tested, published, strict=True) if a != b]
    assert [a[0] for a, _ in different] == ["ENV", "CMD"]
    cmd_tested, cmd_published = different[1][0][1], different[1][1][1]
    assert cmd_published == cmd_tested.replace(" --port $PORT", " --setting force_https_urls on --port $PORT")


def docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:  # a daemon that does not answer is no daemon to build with
        return False


@pytest.mark.skipif(not docker_daemon(), reason="no docker daemon answers here: the image is built only where one does")
def test_the_docker_image_serves_the_same_face(built: served.Built, dist: Path) -> None:
    argv = documented("datasette package", built.path, dist) + OPERATOR_SETTING
    tag = f"{argv[argv.index('-t') + 1]}-test-{os.getpid()}"
    argv[argv.index("-t") + 1] = tag
    done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    port = free_port()
    try:
        running = start_datasette(["docker", "run", "--rm", "-p", f"127.0.0.1:{port}:8001", tag],
                                  f"http://127.0.0.1:{port}")
        try:
            for check in FACE_CHECKS:
                check(running, built)
        finally:
            running.stop()
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120, check=False)
