"""The deployment files, checked without a Docker engine: the compose files against the Compose
Specification's JSON schema and against the product (its settings, its CLI, its health check),
the Dockerfile, .env.example, the reverse-proxy examples, the ClickHouse users' script and the
cluster's configuration."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from copy import deepcopy
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from collector.console.arguments import build_parser
from collector.settings import Settings
from collector.storage.store import Store
from tests.conftest import register

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.cluster.yml")
SCHEMA_DIR = ROOT / "tests" / "compose-spec"
DEPLOY = ROOT / "deploy"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SERVE_COMMAND = ["audience", "serve", "--host", "0.0.0.0", "--port", "8000"]
# The variables of the official ClickHouse images (their documentation and entrypoints).
CLICKHOUSE_IMAGE_VARIABLES = {
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "CLICKHOUSE_DB",
    "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT",
    "CLICKHOUSE_SKIP_USER_SETUP",
    "CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS",
    "CLICKHOUSE_INIT_TIMEOUT",
    "CLICKHOUSE_DO_NOT_CHOWN",
    "CLICKHOUSE_RUN_AS_ROOT",
    "CLICKHOUSE_WATCHDOG_ENABLE",
}
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<plain>\w+))"
)
_READ_BY_FILE = re.compile(r"\$\{?!?([A-Z][A-Z0-9_]*)|from_env=\"([A-Z0-9_]+)\"")


# --- Reading the files ---------------------------------------------------------------------


def compose(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return document


def services(name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose(name)["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(source, target, read-only) of every volume or bind mount of the service."""
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            yield volume.get("source", ""), volume["target"], bool(volume.get("read_only"))
        else:
            source, target, *options = volume.split(":")
            yield source, target, "ro" in options


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def interpolations(name: str) -> Iterator[re.Match[str]]:
    for text in strings(compose(name)):
        for match in _INTERPOLATION.finditer(text):
            if not match["escaped"]:
                yield match


def env_example() -> tuple[dict[str, str], set[str]]:
    """.env.example: its values, and every name it mentions (commented defaults included)."""
    values: dict[str, str] = {}
    mentioned: set[str] = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            mentioned.add(match[2])
            if not match[1]:
                values[match[2]] = match[3]
    return values, mentioned


def interpolate(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["plain"]
        value = values.get(name)
        if match["op"] in (":-", "-") and not value:
            return str(match["arg"])
        return value or ""

    return _INTERPOLATION.sub(one, text)


def setting_names(tmp_path: Path) -> set[str]:
    """Every variable Settings.from_environ reads, as it reads them."""

    class Recorder(dict[str, str]):
        def __init__(self, **values: str) -> None:
            super().__init__(values)
            self.asked: set[str] = set()

        def get(self, key: str, default: Any = None) -> Any:
            self.asked.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> str:
            self.asked.add(key)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            self.asked.add(str(key))
            return super().__contains__(key)

    recorder = Recorder(AUDIENCE_DATA_DIR=str(tmp_path), AUDIENCE_SECRET_KEY="s" * 40)
    Settings.from_environ(recorder)
    return {name for name in recorder.asked if name.startswith("AUDIENCE_")}


def dockerfile() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", "", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def clickhouse_servers(name: str) -> dict[str, dict[str, Any]]:
    return {
        key: service
        for key, service in services(name).items()
        if service.get("image", "").startswith("clickhouse/clickhouse-server:")
        and "test" not in service.get("profiles", [])
    }


def runs(service: dict[str, Any], *command: str) -> bool:
    actual = service.get("command", [])
    return isinstance(actual, list) and actual[: len(command)] == list(command)


# --- The compose files against the Compose Specification -----------------------------------


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMA_DIR / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_vendored_schema_is_the_one_its_readme_names() -> None:
    schema = (SCHEMA_DIR / "compose-spec.json").read_bytes()
    notes = (SCHEMA_DIR / "README.md").read_text()
    assert hashlib.sha256(schema).hexdigest() in notes
    assert json.loads(schema)["title"] == "Compose Specification"
    assert "Apache License" in (SCHEMA_DIR / "LICENSE").read_text()


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_follows_the_compose_specification(name: str) -> None:
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator().iter_errors(compose(name))
    ]
    assert errors == []


def test_a_compose_file_breaking_the_specification_is_caught() -> None:
    broken = deepcopy(compose("docker-compose.yml"))
    broken["services"]["collector"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["migrate"]["restart_policy"] = "never"
    assert len(list(validator().iter_errors(broken))) == 2


# --- The compose files against the product -----------------------------------------------


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_images_are_pinned(name: str) -> None:
    for key, service in services(name).items():
        image = service["image"]
        assert "latest" not in image, key
        if "build" in service:  # ours, tagged with the project's version
            assert image.rsplit(":", 1)[1] == VERSION, key
        else:
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", image), key
    python = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert python is not None
    assert re.fullmatch(r"python:3\.1[12]\.\d+-slim-\w+", python[1])


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_environment_variable_is_a_setting_or_read_by_its_consumer(
    name: str, tmp_path: Path
) -> None:
    settings = setting_names(tmp_path)
    tests = "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p != Path(__file__)
    )
    for key, service in services(name).items():
        read_by_mounts = {
            found
            for source, _, _ in mounts(service)
            if source.startswith("./") and (ROOT / source).is_file()
            for match in _READ_BY_FILE.finditer((ROOT / source).read_text())
            for found in match.groups()
            if found
        }
        for variable in environment(service):
            if variable.startswith("AUDIENCE_TEST_"):
                # the server tests' own variables; their test file may not be written yet
                if (ROOT / "tests" / "storage" / "test_clickhouse_server.py").exists():
                    assert variable in tests, (key, variable)
            elif variable.startswith("AUDIENCE_"):
                assert variable in settings, f"{key}: {variable} is not a setting"
            elif service["image"].startswith("clickhouse/") and variable in (
                CLICKHOUSE_IMAGE_VARIABLES
            ):
                continue
            else:
                assert variable in read_by_mounts, f"{key}: nothing reads {variable}"


def test_every_setting_is_known_to_the_recorder(tmp_path: Path) -> None:
    names = setting_names(tmp_path)
    assert {"AUDIENCE_CLICKHOUSE_URL", "AUDIENCE_SECRET_KEY", "AUDIENCE_TRUSTED_PROXIES"} <= names
    assert len(names) >= 18


def test_env_example_has_every_variable_the_compose_files_use() -> None:
    values, mentioned = env_example()
    used = {
        match["name"] or match["plain"] for name in COMPOSE_FILES for match in interpolations(name)
    }
    audience = {
        variable
        for name in COMPOSE_FILES
        for service in services(name).values()
        if "test" not in service.get("profiles", [])
        for variable in environment(service)
        if variable.startswith("AUDIENCE_")
        and variable not in ("AUDIENCE_DATA_DIR", "AUDIENCE_CLICKHOUSE_URL")
    }
    assert sorted(used - mentioned) == []
    assert sorted(audience - mentioned) == []
    # a default written in a compose file is the one .env.example shows
    for name in COMPOSE_FILES:
        for match in interpolations(name):
            if match["op"] == ":-" and match["arg"] and match["name"] in values:
                assert values[match["name"]] == match["arg"], match[0]
    # no secret in the example: each is left empty, for the operator to fill in
    secrets = [v for v in mentioned if re.search(r"PASSWORD|SECRET|_KEY$", v)]
    assert len(secrets) >= 7
    assert {v: values.get(v, "") for v in secrets} == dict.fromkeys(secrets, "")


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_services_start_in_order(name: str) -> None:
    found = services(name)
    for key, service in found.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in found, (key, target)
            wanted = condition["condition"]
            other = found[target]
            if wanted == "service_healthy":
                own = other.get("healthcheck", {})
                from_dockerfile = other.get("build", {}).get("target") == "runtime"
                assert (own and not own.get("disable")) or from_dockerfile, (key, target)
            elif wanted == "service_completed_successfully":
                assert other.get("restart", "no") == "no", (key, target)
            else:
                pytest.fail(f"{key} -> {target}: {wanted}")
    migrate = found["migrate"]
    assert runs(migrate, "audience", "migrate")
    assert set(migrate["depends_on"]) == set(clickhouse_servers(name))
    assert {c["condition"] for c in migrate["depends_on"].values()} == {"service_healthy"}
    collectors = [s for s in found.values() if runs(s, "audience", "serve")]
    assert collectors
    for collector in collectors:
        assert collector["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_mounted_file_is_in_the_repository(name: str) -> None:
    declared = set(compose(name).get("volumes", {}))
    for key, service in services(name).items():
        for source, target, read_only in mounts(service):
            if source.startswith("./"):
                assert (ROOT / source).exists(), (key, source)
                assert read_only, f"{key}: mount {source} read-only"
                if target.startswith("/docker-entrypoint-initdb.d/") and source.endswith(".sh"):
                    assert os.access(ROOT / source, os.X_OK), source
            else:
                assert source in declared, (key, source)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_audience_commands_are_the_cli_s(name: str) -> None:
    values, _ = env_example()
    for key, service in services(name).items():
        command = [interpolate(part, values) for part in service.get("command", [])]
        if command[:1] != ["audience"]:
            continue
        try:
            arguments = build_parser().parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{key}: {' '.join(command)}")
        if arguments.command == "serve":  # where the image's health check looks
            assert (arguments.host, arguments.port) == ("0.0.0.0", 8000), key


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_the_front_proxy_is_trusted_and_nothing_wider(name: str) -> None:
    document = compose(name)
    network = document["networks"]["default"]["ipam"]["config"][0]
    subnet = ipaddress.ip_network(network["subnet"])
    dynamic = ipaddress.ip_network(network["ip_range"])
    fixed = [
        (key, ipaddress.ip_address(service["networks"]["default"]["ipv4_address"]))
        for key, service in document["services"].items()
        if isinstance(service.get("networks"), dict)
    ]
    assert len(fixed) == 1  # Caddy, or the cluster's load balancer
    values, _ = env_example()
    trusted = [ipaddress.ip_network(n) for n in values["AUDIENCE_TRUSTED_PROXIES"].split(",")]
    allowed = {ipaddress.ip_address(network["gateway"]), fixed[0][1]}
    assert {n.network_address for n in trusted} == allowed
    assert all(n.num_addresses == 1 for n in trusted)
    assert fixed[0][1] in subnet and fixed[0][1] not in dynamic
    for key, service in clickhouse_servers(name).items():
        assert environment(service)["CLICKHOUSE_CLIENT_NETWORKS"] == str(subnet), key
    for service in document["services"].values():
        for port in service.get("ports", []):
            if str(port).endswith(":8000") or "COLLECTOR_PORT" in str(port):
                assert str(port).startswith("127.0.0.1:"), port


# --- The Dockerfile ---------------------------------------------------------------------


def test_the_image_is_built_in_stages_and_runs_the_readme_s_serve_command_as_non_root() -> None:
    stages = dockerfile()
    names = [dict(stage)["FROM"].split()[-1] for stage in stages[1:]]
    assert names[0] == "builder" and names[-1] == "runtime"
    builder, runtime = stages[1], stages[-1]
    assert any(k == "RUN" and "pip wheel" in a for k, a in builder)
    base = stages[names.index("base") + 1]
    assert any(k == "COPY" and "--from=builder" in a for k, a in base)
    assert re.search(r"AUDIENCE_DATA_DIR=/data", " ".join(a for k, a in base if k == "ENV"))
    instructions = dict(runtime)
    user = [a for k, a in runtime if k == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert "/healthz" in instructions["HEALTHCHECK"] and "urllib" in instructions["HEALTHCHECK"]
    assert "127.0.0.1:8000" in instructions["HEALTHCHECK"]
    assert instructions["EXPOSE"] == "8000"
    assert json.loads(instructions["VOLUME"]) == ["/data"]
    command = json.loads(instructions["CMD"])
    assert command == SERVE_COMMAND
    assert build_parser().parse_args(command[1:]).command == "serve"
    readme = (ROOT / "README.md").read_text()
    synopsis = re.search(r"^audience serve (.*)$", readme, re.M)
    assert synopsis is not None
    for option in (part for part in command[2:] if part.startswith("--")):
        assert f"[{option} " in synopsis[1], option


def test_the_dockerfile_s_inline_python_compiles() -> None:
    found = [
        code
        for stage in dockerfile()
        for _, arguments in stage
        for code in re.findall(r'python -c "(.*?)"(?:\s|$)|"python", "-c", "(.*?)"\]', arguments)
    ]
    assert len(found) == 3
    for pair in found:
        compile("".join(pair), "Dockerfile", "exec")


def test_the_wheel_carries_every_data_file_the_app_serves() -> None:
    """pyproject.toml's package-data covers every file of the packages that is not Python."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    missing = []
    for top in ("collector", "dashboards", "schema"):
        for path in (ROOT / top).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            covered = False
            for depth in range(1, len(relative.parts)):
                package = ".".join(relative.parts[:depth])
                rest = relative.parts[depth:]
                for pattern in package_data.get(package, []):
                    segments = pattern.split("/")
                    if len(segments) == len(rest) and all(
                        fnmatchcase(a, b) for a, b in zip(rest, segments, strict=True)
                    ):
                        covered = True
            if not covered:
                missing.append(str(relative))
    assert missing == []
    assert (ROOT / "collector" / "snippet" / "core.js").is_file()


def test_dockerignore_keeps_secrets_data_and_tools_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".env", ".venv", "data", "**/__pycache__"} <= ignored
    assert "/.env" in (ROOT / ".gitignore").read_text().split()


# --- The reverse proxies ----------------------------------------------------------------


def test_the_caddy_example_serves_the_collector_under_stats_and_logs_nothing() -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    assert "handle_path /stats/* {" in lines
    assert "header_up X-Forwarded-For {remote_host}" in lines
    assert "header_up X-Forwarded-Proto {scheme}" in lines
    assert "@event path /api/event" in lines and "max_size 8KiB" in lines
    assert "handle /.well-known/security.txt {" in lines
    assert not any(line == "log" or line.startswith("log ") for line in lines)


def test_the_nginx_example_serves_the_collector_under_stats_and_logs_no_personal_data() -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    assert text.count("{") == text.count("}")
    event = re.search(r"location = /stats/api/event \{(.*?)\}", text, re.S)
    assert event is not None and "client_max_body_size 8k;" in event[1]
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "location /stats/ {" in text and "location = /.well-known/security.txt {" in text
    log_format = re.search(r"log_format audience_private (.*?);", text, re.S)
    assert log_format is not None
    logged = set(re.findall(r"\$(\w+)", log_format[1]))
    assert logged <= {
        "time_iso8601",
        "request_method",
        "uri",
        "status",
        "body_bytes_sent",
        "request_time",
    }
    for access_log in re.findall(r"access_log ([^;]*);", text):
        assert access_log == "off" or access_log.endswith(" audience_private"), access_log


def test_the_load_balancer_spreads_over_every_collector() -> None:
    text = (DEPLOY / "cluster" / "nginx.conf").read_text()
    upstream = re.search(r"upstream audience_collectors \{(.*?)\}", text, re.S)
    assert upstream is not None
    servers = set(re.findall(r"server ([\w-]+):8000", upstream[1]))
    collectors = {
        key
        for key, s in services("docker-compose.cluster.yml").items()
        if runs(s, "audience", "serve")
    }
    assert len(collectors) >= 2
    assert servers == collectors
    for key in collectors:  # each its own spool
        volume = [
            source
            for source, target, _ in mounts(services("docker-compose.cluster.yml")[key])
            if target == "/data"
        ]
        assert volume == [f"{key}-data"]
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
    assert "client_max_body_size 8k;" in text


# --- The cluster -------------------------------------------------------------------------


def _text(element: ET.Element | None) -> str:
    assert element is not None and element.text is not None
    return element.text.strip()


def test_the_cluster_has_two_shards_of_two_replicas_known_to_compose() -> None:
    found = services("docker-compose.cluster.yml")
    config = ET.parse(DEPLOY / "cluster" / "clickhouse.xml").getroot()
    cluster = config.find("remote_servers/audience")
    assert cluster is not None
    assert cluster.find("secret") is not None
    shards = cluster.findall("shard")
    assert len(shards) == 2
    nodes: dict[str, tuple[str, str]] = {}
    for number, shard in enumerate(shards, start=1):
        assert _text(shard.find("internal_replication")) == "true"
        replicas = shard.findall("replica")
        assert len(replicas) == 2
        for replica in replicas:
            nodes[_text(replica.find("host"))] = (str(number), _text(replica.find("host")))
            assert _text(replica.find("port")) == "9000"
    servers = clickhouse_servers("docker-compose.cluster.yml")
    assert set(nodes) == set(servers)
    for key, service in servers.items():
        env = environment(service)
        assert (env["CLICKHOUSE_SHARD"], env["CLICKHOUSE_REPLICA"]) == nodes[key]
        assert service["hostname"] == key
        assert env["CLICKHOUSE_CLUSTER"] == "audience"
        targets = {target for _, target, _ in mounts(service)}
        assert "/etc/clickhouse-server/config.d/audience-cluster.xml" in targets
    macros = config.find("macros")
    assert macros is not None
    assert {m.tag: m.get("from_env") for m in macros} == {
        "shard": "CLICKHOUSE_SHARD",
        "replica": "CLICKHOUSE_REPLICA",
    }
    migrate = found["migrate"]["command"]
    assert migrate == ["audience", "migrate", "--cluster", cluster.tag]


def test_the_cluster_has_three_keepers_known_to_the_servers_and_to_compose() -> None:
    found = services("docker-compose.cluster.yml")
    keepers = {
        key: s for key, s in found.items() if s["image"].startswith("clickhouse/clickhouse-keeper:")
    }
    assert len(keepers) == 3
    keeper = ET.parse(DEPLOY / "cluster" / "keeper.xml").getroot()
    server = keeper.find("keeper_server")
    assert server is not None
    port = _text(server.find("tcp_port"))
    raft = {
        _text(s.find("hostname")): _text(s.find("id"))
        for s in server.findall("raft_configuration/server")
    }
    assert raft == {key: environment(s)["KEEPER_SERVER_ID"] for key, s in keepers.items()}
    assert sorted(raft.values()) == ["1", "2", "3"]
    config = ET.parse(DEPLOY / "cluster" / "clickhouse.xml").getroot()
    nodes = {
        (_text(n.find("host")), _text(n.find("port"))) for n in config.findall("zookeeper/node")
    }
    assert nodes == {(key, port) for key in keepers}
    for key, service in keepers.items():
        assert service["hostname"] == key
        targets = {target for _, target, _ in mounts(service)}
        assert "/etc/clickhouse-keeper/keeper_config.xml" in targets
    for service in clickhouse_servers("docker-compose.cluster.yml").values():
        assert set(service["depends_on"]) == set(keepers)


# --- The ClickHouse users ------------------------------------------------------------------


def users_sql(tmp_path: Path, cluster: str = "") -> str:
    """What deploy/clickhouse/audience-users.sh sends to ClickHouse, captured."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    captured = tmp_path / f"sent{cluster}.sql"
    (fake / "clickhouse-client").write_text(f"#!/bin/sh\ncat > '{captured}'\n")
    (fake / "clickhouse-client").chmod(0o755)
    env = {
        "PATH": f"{fake}:/usr/bin:/bin",
        "CLICKHOUSE_USERS_SQL": str(ROOT / "docs" / "clickhouse-users.sql"),
        "CLICKHOUSE_CLIENT_NETWORKS": "172.29.0.0/24",
        "CLICKHOUSE_OPERATOR_PASSWORD": "o" * 32,
        "CLICKHOUSE_COLLECTOR_PASSWORD": "c" * 32,
        "CLICKHOUSE_REPORTING_PASSWORD": "r" * 32,
        "CLICKHOUSE_CLUSTER": cluster,
    }
    script = DEPLOY / "clickhouse" / "audience-users.sh"
    result = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "users audience_operator, audience_collector" in result.stdout
    return captured.read_text()


def test_the_users_script_refuses_a_weak_password(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CLICKHOUSE_CLIENT_NETWORKS": "172.29.0.0/24"}
    env |= {f"CLICKHOUSE_{u}_PASSWORD": u.lower() * 30 for u in ("OPERATOR", "COLLECTOR")}
    env["CLICKHOUSE_REPORTING_PASSWORD"] = "changeme"
    result = subprocess.run(
        ["bash", str(DEPLOY / "clickhouse" / "audience-users.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "CLICKHOUSE_REPORTING_PASSWORD" in result.stderr


def test_the_users_script_gives_each_user_its_roles_and_clickhouse_parses_it(
    settings: Settings, tmp_path: Path
) -> None:
    single = [" ".join(s.split()) for s in users_sql(tmp_path).split(";") if s.strip()]
    on_cluster = [
        " ".join(s.split()) for s in users_sql(tmp_path, "audience").split(";") if s.strip()
    ]
    register(settings)  # a migrated embedded store: ClickHouse's own parser and the schema
    store = Store.connect(settings.clickhouse_url)
    try:
        for statement in single + on_cluster:
            store.query_dicts("SELECT formatQuery({q:String}) AS sql", {"q": statement})
        tables = {
            row["name"]
            for row in store.query_dicts(
                "SELECT name FROM system.tables WHERE database = 'audience'"
            )
        }
    finally:
        store.close()
    assert (
        "GRANT audience_ingest, audience_dashboards, audience_privacy TO audience_collector"
        in single
    )
    assert "GRANT audience_admin, audience_privacy TO audience_operator" in single
    assert not any("audience_admin" in s and "audience_collector" in s for s in single)
    # every statement of docs/clickhouse-users.sql for the roles is there, none of its users
    assert not any("replace-with" in s for s in single)
    reporting = [s for s in single if s.endswith("TO audience_reporting")]
    assert all(s.startswith("GRANT SELECT ON audience.") for s in reporting)
    granted = set(re.findall(r"ON audience\.(\w+) TO", " ".join(single)))
    assert granted <= tables
    local = set(re.findall(r"ON audience\.(\w+)_local TO", " ".join(on_cluster)))
    assert local == {"events", "visits", "traffic_hourly", "traffic_daily"}
    try:  # the tables collector/storage/cluster.py shards, when it is there
        from collector.storage.cluster import DROPPED, SHARDING_KEYS
    except ImportError:
        pass
    else:
        assert local == set(SHARDING_KEYS) - DROPPED
    assert "GRANT CLUSTER ON *.* TO audience_operator" in on_cluster
    assert not any("_local" in s or "CLUSTER ON" in s for s in single)
