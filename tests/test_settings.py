"""Settings.from_environ: defaults, explicit values, the secret key file, and refused values."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest

from collector.ops.startup import prepare
from collector.settings import MIN_SECRET_LENGTH, Settings, SettingsError

SECRET = "x" * MIN_SECRET_LENGTH


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path)})
    data_dir = tmp_path.resolve()
    assert settings.data_dir == data_dir
    assert settings.clickhouse_url == f"chdb://{data_dir / 'clickhouse'}"
    assert settings.is_embedded
    assert settings.secret is None  # made by the start step, not by reading settings
    with pytest.raises(SettingsError, match=r"^AUDIENCE_SECRET_KEY: unset"):
        _ = settings.secret_key
    assert list(tmp_path.iterdir()) == []
    assert len(prepare(settings).secret_key) >= MIN_SECRET_LENGTH
    assert settings.geoip_city is None
    assert settings.geoip_operator is None
    assert settings.trusted_proxies == ()
    assert settings.retention_months == 25
    assert settings.min_cell == 5
    assert settings.spool_dir == data_dir / "spool"
    assert settings.spool_quota_bytes == 1024 * 1024 * 1024
    assert settings.batch_rows == 10_000
    assert settings.flush_interval == 1.0
    assert settings.rate_limit_per_second == 20.0
    assert settings.rate_limit_burst == 100
    assert settings.log_level == "info"


def test_blank_values_are_defaults(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {
            "AUDIENCE_DATA_DIR": str(tmp_path),
            "AUDIENCE_RETENTION_MONTHS": "   ",
            "AUDIENCE_LOG_LEVEL": "",
            "AUDIENCE_GEOIP_CITY": "",
            "AUDIENCE_TRUSTED_PROXIES": " ",
        }
    )
    assert settings.retention_months == 25
    assert settings.log_level == "info"
    assert settings.geoip_city is None
    assert settings.trusted_proxies == ()


def test_variables_without_the_prefix_are_ignored(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {"AUDIENCE_DATA_DIR": str(tmp_path), "RETENTION_MONTHS": "3", "LOG_LEVEL": "loud"}
    )
    assert settings.retention_months == 25
    assert settings.log_level == "info"


def test_explicit_values(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    city.write_bytes(b"not checked here")
    settings = Settings.from_environ(
        {
            "AUDIENCE_DATA_DIR": str(tmp_path / "data"),
            "AUDIENCE_CLICKHOUSE_URL": "https://clickhouse.internal:8443",
            "AUDIENCE_SECRET_KEY": f"  {SECRET}  ",
            "AUDIENCE_GEOIP_CITY": str(city),
            "AUDIENCE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1 ::1,,2001:db8::/32",
            "AUDIENCE_RETENTION_MONTHS": "13",
            "AUDIENCE_MIN_CELL": "10",
            "AUDIENCE_SPOOL_DIR": str(tmp_path / "spool"),
            "AUDIENCE_SPOOL_QUOTA_MB": "0.5",
            "AUDIENCE_BATCH_ROWS": "500",
            "AUDIENCE_FLUSH_INTERVAL": "0.05",
            "AUDIENCE_RATE_LIMIT": "0",
            "AUDIENCE_RATE_LIMIT_BURST": "7",
            "AUDIENCE_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.clickhouse_url == "https://clickhouse.internal:8443"
    assert not settings.is_embedded
    assert settings.secret_key == SECRET.encode()
    assert not (tmp_path / "data" / "secret.key").exists()
    assert settings.geoip_city == city.resolve()
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.1/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert settings.retention_months == 13
    assert settings.min_cell == 10
    assert settings.spool_dir == (tmp_path / "spool").resolve()
    assert settings.spool_quota_bytes == 512 * 1024
    assert settings.batch_rows == 500
    assert settings.flush_interval == 0.05
    assert settings.rate_limit_per_second == 0.0
    assert settings.rate_limit_burst == 7
    assert settings.log_level == "debug"


def test_trusted_proxy_host_bits_are_allowed(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_TRUSTED_PROXIES": "10.1.2.3/8"}
    )
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),)


def test_secret_key_file_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    environ = {"AUDIENCE_DATA_DIR": str(data_dir)}
    first = prepare(Settings.from_environ(environ))
    key_file = data_dir / "secret.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_key == key_file.read_bytes().strip()
    assert len(first.secret_key) >= MIN_SECRET_LENGTH
    content = key_file.read_bytes()
    modified = key_file.stat().st_mtime_ns

    second = prepare(Settings.from_environ(environ))
    assert second.secret_key == first.secret_key
    assert key_file.read_bytes() == content
    assert key_file.stat().st_mtime_ns == modified
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_secret_key_files_differ_between_data_directories(tmp_path: Path) -> None:
    one = prepare(Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path / "one")}))
    two = prepare(Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path / "two")}))
    assert one.secret_key != two.secret_key


def test_existing_secret_key_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text(f"{SECRET}-from-file\n")
    settings = Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path)})
    assert settings.secret_key == f"{SECRET}-from-file".encode()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\n", id="newline-only"),
        pytest.param(b"short\n", id="short"),
    ],
)
def test_short_secret_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "secret.key").write_bytes(content)
    with pytest.raises(SettingsError, match=r"^AUDIENCE_SECRET_KEY: .*delete the file"):
        Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("AUDIENCE_RETENTION_MONTHS", "0", id="retention-zero"),
        pytest.param("AUDIENCE_RETENTION_MONTHS", "abc", id="retention-word"),
        pytest.param("AUDIENCE_RETENTION_MONTHS", "121", id="retention-too-big"),
        pytest.param("AUDIENCE_RETENTION_MONTHS", "2.5", id="retention-fraction"),
        pytest.param("AUDIENCE_MIN_CELL", "0", id="min-cell-zero"),
        pytest.param("AUDIENCE_SECRET_KEY", "x" * (MIN_SECRET_LENGTH - 1), id="secret-too-short"),
        pytest.param("AUDIENCE_SECRET_KEY", "short", id="secret-short"),
        pytest.param("AUDIENCE_GEOIP_CITY", "{tmp}/missing.mmdb", id="city-missing-file"),
        pytest.param("AUDIENCE_GEOIP_CITY", "{tmp}", id="city-directory"),
        pytest.param("AUDIENCE_GEOIP_OPERATOR", "{tmp}/missing.mmdb", id="operator-missing-file"),
        pytest.param("AUDIENCE_TRUSTED_PROXIES", "not-an-ip", id="proxies-word"),
        pytest.param("AUDIENCE_TRUSTED_PROXIES", "10.0.0.1, nope", id="proxies-second-bad"),
        pytest.param("AUDIENCE_TRUSTED_PROXIES", "10.0.0.0/33", id="proxies-bad-prefix"),
        pytest.param("AUDIENCE_CLICKHOUSE_URL", "mysql://x", id="clickhouse-mysql"),
        pytest.param("AUDIENCE_CLICKHOUSE_URL", "clickhouse:8123", id="clickhouse-no-scheme"),
        pytest.param("AUDIENCE_LOG_LEVEL", "loud", id="log-level-loud"),
        pytest.param("AUDIENCE_LOG_LEVEL", "trace", id="log-level-trace"),
        pytest.param("AUDIENCE_FLUSH_INTERVAL", "-1", id="flush-negative"),
        pytest.param("AUDIENCE_FLUSH_INTERVAL", "0", id="flush-zero"),
        pytest.param("AUDIENCE_FLUSH_INTERVAL", "61", id="flush-too-long"),
        pytest.param("AUDIENCE_FLUSH_INTERVAL", "soon", id="flush-word"),
        pytest.param("AUDIENCE_FLUSH_INTERVAL", "nan", id="flush-nan"),
        pytest.param("AUDIENCE_SPOOL_QUOTA_MB", "0", id="quota-zero"),
        pytest.param("AUDIENCE_BATCH_ROWS", "0", id="batch-zero"),
        pytest.param("AUDIENCE_RATE_LIMIT", "-5", id="rate-negative"),
        pytest.param("AUDIENCE_RATE_LIMIT_BURST", "0", id="burst-zero"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "security@example.com", id="contact-no-scheme"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "http://example.com/report", id="contact-http"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "mailto:nobody", id="contact-no-domain"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "https://", id="contact-no-host"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "https://[::1/x", id="contact-bad-host"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "mailto:a@b.fr\nPolicy: x", id="contact-line"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "mailto:a b@example.com", id="contact-space"),
        pytest.param("AUDIENCE_SECURITY_CONTACT", "mailto:sécu@example.com", id="contact-ascii"),
        pytest.param("AUDIENCE_PUBLIC_URL", "stats.example.com", id="public-url-no-scheme"),
        pytest.param("AUDIENCE_PUBLIC_URL", "ftp://stats.example.com", id="public-url-ftp"),
        pytest.param("AUDIENCE_PUBLIC_URL", "https://", id="public-url-no-host"),
        pytest.param("AUDIENCE_PUBLIC_URL", "https://example.com/?a=1", id="public-url-query"),
        pytest.param("AUDIENCE_REPORTS_CHECK_SECONDS", "0", id="reports-check-zero"),
    ],
)
def test_bad_value_names_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    environ = {"AUDIENCE_DATA_DIR": str(tmp_path), variable: value.format(tmp=tmp_path)}
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ(environ)
    assert str(caught.value).startswith(f"{variable}: ")


@pytest.mark.parametrize(
    "contact", ["mailto:security@example.com", "https://example.com/.well-known/report"]
)
def test_security_contact(tmp_path: Path, contact: str) -> None:
    environ = {"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_SECURITY_CONTACT": f" {contact} "}
    assert Settings.from_environ(environ).security_contact == contact
    assert Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path)}).security_contact is None


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUDIENCE_RETENTION_MONTHS", "1"),
        ("AUDIENCE_RETENTION_MONTHS", "120"),
        ("AUDIENCE_FLUSH_INTERVAL", "0.01"),
        ("AUDIENCE_FLUSH_INTERVAL", "60"),
        ("AUDIENCE_SECRET_KEY", "x" * MIN_SECRET_LENGTH),
        ("AUDIENCE_CLICKHOUSE_URL", "chdb:///var/lib/audience"),
        ("AUDIENCE_CLICKHOUSE_URL", "http://localhost:8123"),
        ("AUDIENCE_LOG_LEVEL", "Warning"),
    ],
)
def test_boundary_values_are_accepted(tmp_path: Path, variable: str, value: str) -> None:
    settings = Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path), variable: value})
    assert isinstance(settings, Settings)


def test_geoip_files_of_the_data_directory_apply_when_the_variables_are_unset(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "geoip"
    folder.mkdir()
    (folder / "city.mmdb").write_bytes(b"not checked here")
    settings = Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path)})
    assert settings.geoip_city == folder.resolve() / "city.mmdb"
    assert settings.geoip_operator is None  # no asn.mmdb there
    other = tmp_path / "other.mmdb"
    other.write_bytes(b"")
    chosen = Settings.from_environ(
        {"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_GEOIP_CITY": str(other)}
    )
    assert chosen.geoip_city == other.resolve()


def test_the_maxmind_licence_key_is_never_shown(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_MAXMIND_LICENSE_KEY": " key-0123 "}
    )
    assert settings.maxmind_license_key == "key-0123"
    assert "key-0123" not in repr(settings)


def test_secrets_stay_out_of_the_settings_repr(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {
            "AUDIENCE_DATA_DIR": str(tmp_path),
            "AUDIENCE_SECRET_KEY": "s3cret-" * 8,
            "AUDIENCE_CLICKHOUSE_URL": "http://audience:hunter2@clickhouse:8123/",
            "AUDIENCE_MAXMIND_LICENSE_KEY": "licence-key-42",
        }
    )
    shown = repr(settings)
    for secret in ("s3cret-", "hunter2", "licence-key-42"):
        assert secret not in shown


def test_public_url_loses_its_final_slash(tmp_path: Path) -> None:
    environ = {"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_PUBLIC_URL": "https://ex.org/stats/"}
    assert Settings.from_environ(environ).public_url == "https://ex.org/stats"
    defaults = Settings.from_environ({"AUDIENCE_DATA_DIR": str(tmp_path)})
    assert defaults.public_url is None and defaults.reports_check_seconds == 60.0
