"""One Settings object, read from the CITYOPS_* environment variables (SPEC section 3)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CITIES_DIR = PROJECT_ROOT / "cities"


@dataclass(frozen=True)
class MqttTarget:
    """Where the broker is, parsed from CITYOPS_MQTT_URL."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> "MqttTarget":
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"CITYOPS_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
        tls = parsed.scheme in ("mqtts", "ssl")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
        )


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8050
    database_url: str = "sqlite:///data/cityops.db"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str = "city"
    demo: bool = False
    redis_url: str | None = None
    timezone: str | None = None  # None: the city's own time zone
    secret_key: str | None = None
    admin_token: str | None = None
    session_idle_minutes: float = 30.0  # a signed-in person's session ends after this long idle
    secure_cookies: bool = False  # session and display cookies only over HTTPS (set behind TLS)
    city: str = "helsinki"
    retention_days: float = 30.0
    ingest_client_id: str = "cityops-ingest"
    ingest_shared_group: str | None = None
    tile_url: str | None = None  # an online basemap tile URL; the city's own vector basemap otherwise
    aqi_standard: str | None = None  # None: the rules file's, else services.aqi.DEFAULT_STANDARD
    rules_file: Path = field(default_factory=lambda: PROJECT_ROOT / "config" / "rules.yaml")
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "data")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = dict(os.environ if env is None else env)
        get = lambda name, default=None: env.get(f"CITYOPS_{name}") or default  # noqa: E731
        values = dict(
            host=get("HOST", "127.0.0.1"),
            port=int(get("PORT", "8050")),
            database_url=get("DATABASE_URL", "sqlite:///data/cityops.db"),
            mqtt_url=get("MQTT_URL", "mqtt://127.0.0.1:1883"),
            topic_root=get("TOPIC_ROOT", "city").strip("/"),
            demo=_flag(env.get("CITYOPS_DEMO"), False),
            redis_url=get("REDIS_URL"),
            timezone=get("TIMEZONE"),
            secret_key=get("SECRET_KEY"),
            admin_token=get("ADMIN_TOKEN"),
            session_idle_minutes=float(get("SESSION_IDLE_MINUTES", "30")),
            secure_cookies=_flag(env.get("CITYOPS_SECURE_COOKIES"), False),
            city=get("CITY", "helsinki"),
            retention_days=float(get("RETENTION_DAYS", "30")),
            ingest_client_id=get("INGEST_CLIENT_ID", "cityops-ingest"),
            ingest_shared_group=get("INGEST_SHARED_GROUP"),
            tile_url=get("TILE_URL"),
            aqi_standard=get("AQI_STANDARD"),
            rules_file=Path(get("RULES_FILE", str(PROJECT_ROOT / "config" / "rules.yaml"))),
            data_dir=Path(get("DATA_DIR", str(PROJECT_ROOT / "data"))),
        )
        values.update(overrides)
        return cls(**values)

    @property
    def mqtt(self) -> MqttTarget:
        return MqttTarget.from_url(self.mqtt_url)

    @property
    def city_dir(self) -> Path:
        candidate = Path(self.city)
        return candidate if candidate.is_dir() else CITIES_DIR / self.city

    def resolved_secret_key(self) -> str:
        """The session key: from the environment, else generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        path.chmod(0o600)
        return key
