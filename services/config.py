"""One Settings object, read once from the CITYOPS_* environment variables (SPEC section 3).

Secrets never reach a repr, a log line or an error message: the session key, the admin
token and the OpenID Connect client secret are ``SecretStr``, and the URLs (database, broker, Redis) show their password as ``***``
(``masked_url``). A bad value stops the start with ``SettingsError`` naming the variable.
"""
from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from services.access.principal import PEOPLE_ROLES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CITIES_DIR = PROJECT_ROOT / "cities"
ENV_PREFIX = "CITYOPS_"
DATABASE_FILE = "cityops.db"  # the SQLite database inside CITYOPS_DATA_DIR
URL_FIELDS = ("database_url", "mqtt_url", "sim_mqtt_url", "redis_url")


class SettingsError(ValueError):
    """A CITYOPS_* variable with a value CityOps cannot use; the message names each one."""


def masked_url(url: str | None) -> str | None:
    """The URL with its password replaced by ``***`` (for logs and reprs)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True)
class MqttTarget:
    """Where the broker is, parsed from CITYOPS_MQTT_URL, and how to trust it (TLS)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # a client certificate, for brokers that ask for one
    key_file: Path | None = None

    @classmethod
    def from_url(cls, url: str, **tls_files) -> "MqttTarget":
        parsed = urlsplit(url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"must start with mqtt:// or mqtts://, got {masked_url(url)!r}")
        try:
            port = parsed.port
        except ValueError:
            raise ValueError(f"has a port that is not a number: {masked_url(url)!r}") from None
        tls = parsed.scheme in ("mqtts", "ssl")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            **tls_files,
        )

    def tls_context(self) -> ssl.SSLContext | None:
        """The client's TLS context (server certificate and host name checked), None for mqtt://."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file:
            context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return context

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


# The environment Settings reads: os.environ, or the mapping given to Settings.from_env (tests)
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("cityops_environ", default=None)


class _Environment(EnvSettingsSource):
    """The CITYOPS_* variables of os.environ or of ``Settings.from_env``'s mapping, one parser."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            environ = os.environ
        # case-insensitive names, empty values ignored (model_config)
        return {name.lower(): value for name, value in environ.items() if value != ""}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True,
                                      extra="forbid", validate_default=True)

    host: str = "127.0.0.1"
    port: int = 8050
    database_url: str = ""  # empty: SQLite in data_dir (see _database_in_data_dir)
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_ca_file: Path | None = None  # CA that signed the broker's certificate (mqtts://)
    mqtt_cert_file: Path | None = None  # client certificate and key, if the broker asks for them
    mqtt_key_file: Path | None = None
    topic_root: str = "city"
    demo: bool = False
    redis_url: str | None = None
    timezone: str | None = None  # None: the city's own time zone
    secret_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    session_idle_minutes: float = 30.0  # a signed-in person's session ends after this long idle
    secure_cookies: bool = False  # session and display cookies only over HTTPS (set behind TLS)
    # Single sign-on with the city's OpenID Connect provider (Keycloak and the like); off without an issuer
    oidc_issuer: str | None = None  # e.g. https://sso.city.example/realms/city (discovery below it)
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_name: str = "the city's sign-in"  # the sign-in page says "Sign in with <name>"
    oidc_scopes: str = "openid profile email"
    oidc_role_claim: str = "roles"  # a claim (text or list); a dotted path reaches in: realm_access.roles
    oidc_role_map: dict[str, str] = {}  # claim value -> CityOps role; without it the values are role names
    city: str = "helsinki"
    retention_days: float = 30.0
    ingest_client_id: str = "cityops-ingest"
    ingest_shared_group: str | None = None
    max_entities_per_message: int = 1000  # a message holding more is rejected whole (too_many_entities)
    tile_url: str | None = None  # an online basemap tile URL; the city's own vector basemap otherwise
    aqi_standard: str | None = None  # None: the rules file's, else services.aqi.DEFAULT_STANDARD
    rules_file: Path = PROJECT_ROOT / "config" / "rules.yaml"
    iot_agent_file: Path = PROJECT_ROOT / "config" / "iot_agent.yaml"
    digitraffic_file: Path = PROJECT_ROOT / "config" / "digitraffic.yaml"
    services_file: Path = PROJECT_ROOT / "config" / "services.yaml"  # citizen request catalogue
    departments_file: Path = PROJECT_ROOT / "config" / "departments.yaml"
    reports_dir: Path | None = None  # the monthly scorecard reports (services/kpis/report.py); None: data_dir/reports
    kpis_file: Path = PROJECT_ROOT / "config" / "kpis.yaml"  # the KPI catalogue (services/kpis/catalogue.py)
    data_dir: Path = PROJECT_ROOT / "data"
    sim_mqtt_url: str | None = None  # the demo simulator's broker account; None: mqtt_url's
    sim_backfill_minutes: float = 15.0
    sim_history_days: float = 30.0  # the demo's past, played once at start-up (services/simulator/history.py)
    sim_speed: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """The settings of ``env`` (default: os.environ), with ``overrides`` (field names) on top."""
        token = _ENVIRON.set(env)
        try:
            return cls(**overrides)
        except ValidationError as error:
            raise SettingsError(_describe(error)) from None
        finally:
            _ENVIRON.reset(token)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, _Environment(settings_cls)  # no .env file, no secrets directory

    # ------------------------------------------------------------ validation

    @model_validator(mode="before")
    @classmethod
    def _database_in_data_dir(cls, values: Any) -> Any:
        """Without CITYOPS_DATABASE_URL the SQLite database lives in CITYOPS_DATA_DIR."""
        if isinstance(values, dict) and not values.get("database_url"):
            data_dir = Path(values.get("data_dir") or cls.model_fields["data_dir"].default)
            values = {**values, "database_url": f"sqlite:///{data_dir.absolute() / DATABASE_FILE}"}
        return values

    @model_validator(mode="after")
    def _single_sign_on(self) -> "Settings":
        if (self.oidc_client_id or self.oidc_client_secret) and not self.oidc_issuer:
            raise ValueError("CITYOPS_OIDC_ISSUER is needed with CITYOPS_OIDC_CLIENT_ID / _CLIENT_SECRET")
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("CITYOPS_OIDC_CLIENT_ID is needed with CITYOPS_OIDC_ISSUER")
        return self

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("https", "http"):
            raise ValueError("must be the provider's https:// issuer URL")
        return value.rstrip("/") if value else value

    @field_validator("oidc_role_map")
    @classmethod
    def _role_map(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - set(PEOPLE_ROLES))
        if unknown:
            raise ValueError(f"maps to unknown roles {', '.join(unknown)}; roles: {', '.join(PEOPLE_ROLES)}")
        return value

    @field_validator("topic_root")
    @classmethod
    def _topic_root(cls, value: str) -> str:
        root = value.strip("/")
        if not root or any(char in root for char in "+#"):
            raise ValueError("must be a topic prefix without wildcards, e.g. 'city'")
        return root

    @field_validator("mqtt_url", "sim_mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if value is not None:
            MqttTarget.from_url(value)
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError("must be a TCP port, 1 to 65535")
        return value

    @field_validator("retention_days", "sim_speed")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be above 0")
        return value

    @field_validator("sim_backfill_minutes", "sim_history_days")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            yield name, masked_url(value) if name in URL_FIELDS else value

    # ------------------------------------------------------------ derived

    @property
    def mqtt(self) -> MqttTarget:
        return self._target(self.mqtt_url)

    @property
    def simulator_mqtt(self) -> MqttTarget:
        return self._target(self.sim_mqtt_url or self.mqtt_url)

    def _target(self, url: str) -> MqttTarget:
        return MqttTarget.from_url(url, ca_file=self.mqtt_ca_file, cert_file=self.mqtt_cert_file,
                                   key_file=self.mqtt_key_file)

    @property
    def city_dir(self) -> Path:
        candidate = Path(self.city)
        return candidate if candidate.is_dir() else CITIES_DIR / self.city

    @property
    def reports_folder(self) -> Path:
        return self.reports_dir or self.data_dir / "reports"

    @property
    def accepts_recorded_at(self) -> bool:
        """Whether the ingest takes a back-filled message's ``recordedAt`` as its receipt time: only for
        the demo simulator's history (services/simulator/history.py), never for a real city's feeds."""
        return self.demo and self.sim_history_days > 0

    @property
    def single_sign_on(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def admin_token_value(self) -> str | None:
        return self.admin_token.get_secret_value() if self.admin_token else None

    def resolved_secret_key(self) -> str:
        """The session key: from the environment, else generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        path.chmod(0o600)
        return key


def _describe(error: ValidationError) -> str:
    """One line per bad variable, without the value (it may be a secret)."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        message = problem["msg"].removeprefix("Value error, ")
        if problem["loc"]:
            message = f"{ENV_PREFIX}{str(problem['loc'][0]).upper()}: {message}"
        lines.append(message)  # a rule across variables names them itself
    return "invalid configuration: " + "; ".join(lines)
