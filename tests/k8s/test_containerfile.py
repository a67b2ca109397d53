"""The Containerfile, read as text (no container engine exists here): its build stage makes the wheel with the
command scripts/wheel_check.sh runs in CI, its runtime stage installs only that wheel, runs the checks
wheel_check.sh runs on it (the CLI, the deployments' flows), as a numeric non-root user, with flows/ and
prefect.yaml where prefect.yaml's pull step looks, and writes only where the chart mounts an emptyDir."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "Containerfile"
WHEEL_CHECK = REPO / "scripts" / "wheel_check.sh"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined and comments dropped (Containerfile and shell alike)."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if not pending and raw.lstrip().startswith("#"):
            continue
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        out.append((pending + raw).strip())
        pending = ""
    return [line for line in out if line]


def stages() -> dict[str, Stage]:
    args: dict[str, str] = {}
    parsed: dict[str, Stage] = {}
    current: Stage | None = None
    for line in _logical_lines(CONTAINERFILE.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and current is None:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", rest, re.IGNORECASE)
            assert match, line
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], match.group(1))
            current = parsed[match.group(2)] = Stage(match.group(2), base)
        else:
            assert current is not None, line
            current.instructions.append((keyword, rest))
    return parsed


def _commands(runs: list[str]) -> list[list[str]]:
    """Each simple command of RUN lines / shell lines, split on && and |, as argument lists."""
    commands = []
    for run in runs:
        lexer = shlex.shlex(run, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            continue  # not shell: a line of a here-document (wheel_check.sh's Python snippets)
        words: list[str] = []
        for token in [*tokens, ";"]:
            if token and set(token) <= set(";&|"):
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words = words[1:]  # leading VAR=value assignments
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(token)
    return commands


def _maturin_build(command: list[str]) -> list[str]:
    """The maturin build arguments with the two paths (interpreter, output folder) replaced by placeholders."""
    args = command[command.index("maturin") + 1 :]
    for option in ("--interpreter", "--out"):
        args[args.index(option) + 1] = f"<{option[2:]}>"
    return args


def _maturin_commands(commands: list[list[str]]) -> list[list[str]]:
    return [c for c in commands if "maturin" in c and "build" in c[c.index("maturin") :]]


def test_the_build_stage_builds_the_wheel_as_wheel_check_does() -> None:
    build = stages()["build"]
    [image_build] = _maturin_commands(_commands(build.all("RUN")))
    [ci_build] = _maturin_commands(_commands(_logical_lines(WHEEL_CHECK.read_text())))
    expected = ["build", "--release", "--interpreter", "<interpreter>", "--out", "<out>"]
    assert _maturin_build(image_build) == _maturin_build(ci_build) == expected
    # The same maturin as the build backend of pyproject.toml.
    requirement = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"][0]
    assert f'"{requirement}"' in " ".join(build.all("RUN"))
    assert f'"{requirement}"' in WHEEL_CHECK.read_text()
    # Everything the wheel is built from is copied in (python/vinops/sql points into sql/).
    copied = " ".join(build.all("COPY"))
    for path in ("Cargo.toml", "Cargo.lock", "pyproject.toml", "vinops_core/", "python/", "sql/"):
        assert path in copied.split(), path


def test_the_runtime_stage_is_slim_and_holds_only_the_wheel() -> None:
    all_stages = stages()
    assert list(all_stages) == ["build", "runtime"]  # the runtime stage is the image's last, default stage
    runtime = all_stages["runtime"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", runtime.base)
    runs = " ".join(runtime.all("RUN"))
    for tool in ("apt-get", "gcc", "build-essential", "rustup", "cargo", "maturin", "curl"):
        assert tool not in runs, f"the runtime stage installs or runs {tool}"
    from_build = [c for c in runtime.all("COPY") if c.startswith("--from=")]
    assert from_build == ["--from=build /dist/ /tmp/dist/"]
    installs = [c for c in _commands(runtime.all("RUN")) if "pip" in c and "install" in c]
    assert len(installs) == 1 and installs[0][-1] == "/tmp/dist/vinops-*.whl"
    ci_commands = _commands(_logical_lines(WHEEL_CHECK.read_text()))
    ci_installs = [c for c in ci_commands if "pip" in c and "install" in c and c[-1] == "$wheel"]
    assert ci_installs, "wheel_check.sh no longer installs the wheel"


def test_the_runtime_stage_runs_the_checks_of_wheel_check() -> None:
    runtime = stages()["runtime"]
    image_commands = _commands(runtime.all("RUN"))
    ci_commands = _commands(_logical_lines(WHEEL_CHECK.read_text()))
    assert ["vinops", "--help"] in [c[:2] for c in image_commands]
    assert any(c[0].endswith("vinops") and c[1:2] == ["--help"] for c in ci_commands)
    [image_import] = [c for c in image_commands if c[:2] == ["python", "-c"]]
    [ci_import] = [c for c in ci_commands if c[1:2] == ["-c"] and c[2].startswith("import flows.")]
    assert image_import[2] == ci_import[2]
    # It imports every deployment's entrypoint module.
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    wanted = {d["entrypoint"].split(":")[0].removesuffix(".py").replace("/", ".") for d in deployments}
    assert set(re.findall(r"flows\.\w+", image_import[2])) == wanted


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for arg in stage.all("ENV"):
        for word in shlex.split(arg):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def test_user_labels_and_the_app_folder() -> None:
    runtime = stages()["runtime"]
    [user] = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    labels = " ".join(runtime.all("LABEL"))
    assert 'org.opencontainers.image.source="${SOURCE}"' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    version_args = [a for a in runtime.all("ARG") if a.startswith("VERSION=")]
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    chart = yaml.safe_load((REPO / "helm" / "vinops" / "Chart.yaml").read_text())
    assert version_args == [f"VERSION={cargo}"] and chart["appVersion"] == cargo
    env = _env(runtime)
    # prefect.yaml's pull step changes into $VINOPS_APP_DIR; the image holds flows/ and prefect.yaml there.
    pull = yaml.safe_load((REPO / "prefect.yaml").read_text())["pull"]
    assert pull == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $VINOPS_APP_DIR }}"}}]
    assert env["VINOPS_APP_DIR"] == "/opt/vinops"
    assert runtime.all("WORKDIR")[-1] == "/opt/vinops"
    assert {"flows/ flows/", "prefect.yaml ./"} <= set(runtime.all("COPY"))
    assert runtime.all("CMD") and runtime.instructions.index(("USER", user)) < len(runtime.instructions) - 2


def test_the_image_writes_only_where_the_chart_mounts_an_emptydir() -> None:
    """The chart's pods run with a read-only root filesystem as the image's user: HOME, VINOPS_DATA_DIR and
    PREFECT_HOME must lie under the emptyDir mounts of the job template (the chart's _helpers.tpl)."""
    runtime = stages()["runtime"]
    env = _env(runtime)
    helpers = (REPO / "helm" / "vinops" / "templates" / "_helpers.tpl").read_text()
    mounts = re.findall(r"mountPath: (\S+)", helpers.split('define "vinops.scratchMounts"')[1].split("{{- end")[0])
    assert sorted(mounts) == ["/tmp", "/var/lib/vinops"]
    for name in ("HOME", "VINOPS_DATA_DIR", "PREFECT_HOME"):
        assert any(env[name] == m or env[name].startswith(m + "/") for m in mounts), name
    template = (REPO / "helm" / "vinops" / "templates" / "_base-job-template.tpl").read_text()
    assert f'"PREFECT_HOME" "{env["PREFECT_HOME"]}"' in template  # flow runs get the image's PREFECT_HOME
    uid = runtime.all("USER")[0].split(":")[0]
    assert f"runAsUser: {uid}" in helpers.split('define "vinops.containerSecurityContext"')[1]


def test_the_build_context_keeps_what_the_build_copies() -> None:
    ignore = (REPO / ".containerignore").read_text()
    assert (REPO / ".dockerignore").read_text() == ignore
    patterns = [line.strip() for line in ignore.splitlines() if line.strip() and not line.startswith("#")]
    needed_paths = ("Cargo.toml", "Cargo.lock", "pyproject.toml", "vinops_core", "python", "sql", "flows",
                    "prefect.yaml")
    for needed in needed_paths:
        assert needed not in patterns, needed
    assert {"target", ".venv", ".git", "**/*.so"} <= set(patterns)  # no stale build output enters the image
