"""Settings: one frozen object, built from the environment and passed in explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Chain id of the managed local node. Fixed, so signatures and deployments are stable.
LOCAL_CHAIN_ID = 31337


@dataclass(frozen=True)
class Settings:
    """Everything gridledger needs to know about where things are.

    Build it with :meth:`from_env`; change it with :meth:`with_` (it is immutable).
    """

    root: Path = PROJECT_ROOT
    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = LOCAL_CHAIN_ID
    node_host: str = "127.0.0.1"
    node_port: int = 8545
    block_time: float = 1.0
    block_gas_limit: int = 2_000_000_000
    state_interval: int = 5
    log_window: int = 2_000
    key_password: str | None = field(default=None, repr=False)
    kdf_work: int = 2**14
    anchorer: str = "anchorer"
    anchor_interval: float = 1.0
    anchor_every: int = 5_000
    anchor_fail_after: float = 30.0
    metrics_token: str | None = field(default=None, repr=False)  # bearer token for /metrics
    metrics_loopback: bool = True  # /metrics answers loopback clients without the token
    # residents' rights requests (ledger.rights): days a request has before it is overdue
    rights_due_days: int = 15
    # -- webhooks (ledger.webhooks) --
    webhook_timeout: float = 5.0  # seconds an endpoint has to answer one delivery
    webhook_backoff_base: float = 10.0  # seconds before the first retry; doubled at each next one
    webhook_backoff_cap: float = 3600.0  # the longest wait between two attempts, seconds
    webhook_max_attempts: int = 15  # attempts before a delivery goes to the dead letters
    webhook_jitter: float = 0.2  # each wait is shortened by up to this fraction, at random
    request_answer_days: int = 15  # days a resident has to answer a consent request (ledger.requests)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        root = Path(env.get("GRIDLEDGER_ROOT", PROJECT_ROOT)).resolve()
        var_dir = Path(env.get("GRIDLEDGER_VAR", root / "var")).resolve()
        port = _int(env, "GRIDLEDGER_NODE_PORT", 8545)
        password = env.get("GRIDLEDGER_KEY_PASSWORD")
        password_file = env.get("GRIDLEDGER_KEY_PASSWORD_FILE")
        if password is None and password_file:
            try:
                password = Path(password_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"GRIDLEDGER_KEY_PASSWORD_FILE={password_file} cannot be read: {exc.strerror}"
                ) from exc
        settings = cls(
            root=root,
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL", ""),
            rpc_url=env.get("GRIDLEDGER_RPC_URL", f"http://127.0.0.1:{port}"),
            chain_id=_int(env, "GRIDLEDGER_CHAIN_ID", LOCAL_CHAIN_ID),
            node_port=port,
            block_time=_float(env, "GRIDLEDGER_BLOCK_TIME", 1.0),
            block_gas_limit=_int(env, "GRIDLEDGER_BLOCK_GAS_LIMIT", 2_000_000_000),
            state_interval=_int(env, "GRIDLEDGER_STATE_INTERVAL", 5),
            log_window=_int(env, "GRIDLEDGER_LOG_WINDOW", 2_000),
            key_password=password,
            kdf_work=_int(env, "GRIDLEDGER_KDF_WORK", 2**14),
            anchorer=env.get("GRIDLEDGER_ANCHORER", "anchorer"),
            anchor_interval=_float(env, "GRIDLEDGER_ANCHOR_INTERVAL", 1.0),
            anchor_every=_int(env, "GRIDLEDGER_ANCHOR_EVERY", 5_000),
            anchor_fail_after=_float(env, "GRIDLEDGER_ANCHOR_FAIL_AFTER", 30.0),
            metrics_token=env.get("GRIDLEDGER_METRICS_TOKEN") or None,
            metrics_loopback=_flag(env, "GRIDLEDGER_METRICS_LOOPBACK", True),
            request_answer_days=_int(env, "GRIDLEDGER_REQUEST_ANSWER_DAYS", 15),
        )
        # residents' rights requests (ledger.rights)
        settings = replace(settings, rights_due_days=_int(env, "GRIDLEDGER_RIGHTS_DUE_DAYS", 15))
        if not 1 <= settings.rights_due_days <= 366:
            raise ConfigurationError(
                f"GRIDLEDGER_RIGHTS_DUE_DAYS must be 1..366 days; got {settings.rights_due_days}"
            )
        if not 1 <= settings.log_window <= 2_000:
            raise ConfigurationError(
                f"GRIDLEDGER_LOG_WINDOW must be 1..2000 blocks (Besu's eth_getLogs bound); got {settings.log_window}"
            )
        if settings.anchor_interval <= 0 or settings.anchor_every < 1 or settings.anchor_fail_after <= 0:
            raise ConfigurationError(
                "GRIDLEDGER_ANCHOR_INTERVAL and GRIDLEDGER_ANCHOR_FAIL_AFTER must be positive seconds and "
                "GRIDLEDGER_ANCHOR_EVERY a positive number of events"
            )
        if settings.metrics_token is not None and len(settings.metrics_token) < 16:
            raise ConfigurationError("GRIDLEDGER_METRICS_TOKEN must be at least 16 characters (a random secret)")
        if settings.block_time <= 0:
            raise ConfigurationError(f"GRIDLEDGER_BLOCK_TIME must be positive seconds; got {settings.block_time}")
        settings = _webhook_settings(settings, env)
        if not 1 <= settings.request_answer_days <= 366:
            raise ConfigurationError(
                f"GRIDLEDGER_REQUEST_ANSWER_DAYS must be 1..366 days; got {settings.request_answer_days}"
            )
        return settings

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'gridledger.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def chain_dir(self) -> Path:
        return self.var_dir / "chain"

    @property
    def deployment_file(self) -> Path:
        return self.var_dir / "deployment.json"

    @property
    def contracts_dir(self) -> Path:
        return self.root / "contracts"

    @property
    def build_dir(self) -> Path:
        return self.root / "contracts" / "build"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number; got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number; got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0; got {raw!r}")


# -- webhooks (ledger.webhooks) -----------------------------------------------------------------


def _webhook_settings(settings: Settings, env: Mapping[str, str]) -> Settings:
    """The webhook deliverer's settings from ``GRIDLEDGER_WEBHOOK_*``, checked."""
    found = replace(
        settings,
        webhook_timeout=_float(env, "GRIDLEDGER_WEBHOOK_TIMEOUT", settings.webhook_timeout),
        webhook_backoff_base=_float(env, "GRIDLEDGER_WEBHOOK_BACKOFF_BASE", settings.webhook_backoff_base),
        webhook_backoff_cap=_float(env, "GRIDLEDGER_WEBHOOK_BACKOFF_CAP", settings.webhook_backoff_cap),
        webhook_max_attempts=_int(env, "GRIDLEDGER_WEBHOOK_MAX_ATTEMPTS", settings.webhook_max_attempts),
        webhook_jitter=_float(env, "GRIDLEDGER_WEBHOOK_JITTER", settings.webhook_jitter),
    )
    if not 0 < found.webhook_timeout <= 60:
        raise ConfigurationError(f"GRIDLEDGER_WEBHOOK_TIMEOUT must be 0..60 seconds; got {found.webhook_timeout}")
    if found.webhook_backoff_base <= 0 or found.webhook_backoff_cap < found.webhook_backoff_base:
        raise ConfigurationError(
            "GRIDLEDGER_WEBHOOK_BACKOFF_BASE must be positive seconds and GRIDLEDGER_WEBHOOK_BACKOFF_CAP at least as "
            f"long; got {found.webhook_backoff_base} and {found.webhook_backoff_cap}"
        )
    if not 1 <= found.webhook_max_attempts <= 100:
        raise ConfigurationError(f"GRIDLEDGER_WEBHOOK_MAX_ATTEMPTS must be 1..100; got {found.webhook_max_attempts}")
    if not 0 <= found.webhook_jitter < 1:
        raise ConfigurationError(f"GRIDLEDGER_WEBHOOK_JITTER must be 0 or more and below 1; got {found.webhook_jitter}")
    return found
