"""Typed settings: ``config.toml`` plus environment overrides for secrets.

Built once in ``main.py`` and passed down; there is no import-time singleton.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.errors import ConfigError

Language = Literal["zh", "en"]

# Environment variables that override a key of the TOML file.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "DATA_KEY": ("security", "data_key"),
    "DATA_KEY_OLD": ("security", "data_key_old"),
    "TELEGRAM_TOKEN": ("telegram", "token"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "TELEGRAM_BASE_URL": ("telegram", "base_url"),
    "TELEGRAM_BASE_FILE_URL": ("telegram", "base_file_url"),
    "WECHAT_APP_ID": ("wechat", "app_id"),
    "WECHAT_APP_SECRET": ("wechat", "app_secret"),
    "WECHAT_TOKEN": ("wechat", "token"),
    "WECHAT_AES_KEY": ("wechat", "aes_key"),
    "WECHAT_TEMPLATE_ID": ("wechat", "template_id"),
    "WECOM_CORP_ID": ("wechat", "corp_id"),
    "WECOM_SECRET": ("wechat", "corp_secret"),
    "WECOM_AGENT_ID": ("wechat", "agent_id"),
    "WECOM_TOKEN": ("wechat", "work_token"),
    "WECOM_AES_KEY": ("wechat", "work_aes_key"),
    "WECOM_ROBOT_WEBHOOK": ("wechat", "robot_webhook"),
    "LLM_API_KEY": ("llm", "api_key"),
    "LLM_BASE_URL": ("llm", "base_url"),
    "SMTP_PASSWORD": ("smtp", "password"),
    "REDIS_URL": ("app", "redis_url"),
    "RATELIMIT_REDIS_URL": ("ratelimit", "redis_url"),
    "CELERY_BROKER_URL": ("workers", "broker_url"),
    "S3_SECRET_ACCESS_KEY": ("media", "s3_secret_access_key"),
    "SIGNING_P12_PASSWORD": ("contracts", "p12_password"),
}

PLACEHOLDERS = {"changeme", "change-me", "xxx", "your-token", "todo", "secret"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _no_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDERS:
        raise ValueError("is a placeholder, set the real secret in the environment")
    return value


class AppSettings(_Section):
    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    default_language: Language = "zh"
    timezone: str = "Asia/Shanghai"
    public_base_url: str = "http://127.0.0.1:8080"
    # Telegram's getMe tells the bot's username; set this only to have start-up check it.
    bot_username: str | None = None
    redis_url: SecretStr | None = None

    @field_validator("bot_username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        value = (value or "").strip().removeprefix("@")
        return value or None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///data/interviewer.sqlite3"
    # PostgreSQL only. Connections this process keeps (pool_size) and opens on top
    # when busy (max_overflow); the server's max_connections must cover every process.
    pool_size: int = Field(10, ge=1, le=200)
    max_overflow: int = Field(20, ge=0, le=500)
    # "off": a commit returns once it is in PostgreSQL's WAL buffers, not on disk (the
    # server writes them within ~0.6 s) -- the same promise as the embedded SQLite's
    # WAL with synchronous=NORMAL: a killed process loses nothing, a crash of the
    # database machine can lose the last fraction of a second of commits, never
    # corrupts. "on": every commit waits for the disk (PostgreSQL's own default).
    synchronous_commit: Literal["on", "off"] = "off"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


class SecuritySettings(_Section):
    key_file: Path = Path("data/keys/data.key")
    data_key: SecretStr | None = None
    data_key_old: SecretStr | None = None  # only while ``keys rotate`` runs (DATA_KEY mode)
    notice_version: str = "2026-11-v1"


class RoleSettings(_Section):
    admins: list[str] = Field(default_factory=list)
    hr_managers: list[str] = Field(default_factory=list)
    hr_viewers: list[str] = Field(default_factory=list)

    @field_validator("admins", "hr_managers", "hr_viewers")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if ":" not in item:
                raise ValueError(f"{item!r} must look like '<platform>:<user id>'")
        return value


class InterviewSettings(_Section):
    max_answer_seconds: int = Field(180, gt=0, le=3600)
    max_media_bytes: int = Field(20_000_000, gt=0)
    max_text_chars: int = Field(4000, gt=10)
    rerecords_per_question: int = Field(1, ge=0, le=5)
    identity_max_tries: int = Field(3, ge=1, le=10)
    practice_question: bool = True
    invitation_days: int = Field(14, gt=0, le=365)
    default_time_limit_seconds: int = Field(120, gt=0, le=3600)


class SpeechSettings(_Section):
    model_dir: Path = Path("~/.cache/chat-interviewer/models/whisper-base")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    beam_size: int = Field(5, ge=1, le=10)
    cpu_threads: int = Field(2, ge=1, le=64)
    decode_timeout_seconds: int = Field(60, gt=0)
    # Which recogniser serves each interview language: "whisper" (faster-whisper,
    # model_dir) or "sensevoice" (SenseVoice-Small through sherpa-onnx, sensevoice_dir,
    # installed with `models install --from DIR`). Whisper also identifies the
    # language when it is unknown, and serves when the chosen one is not installed.
    zh: Literal["whisper", "sensevoice"] = "whisper"
    en: Literal["whisper", "sensevoice"] = "whisper"
    sensevoice_dir: Path = Path("~/.cache/chat-interviewer/models/sensevoice")
    # Optional pin: the sha256 the SenseVoice model.onnx / model.int8.onnx must have.
    sensevoice_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    # Put the question and job title into Whisper's prompt. Off: measured on Whisper
    # base it raised Mandarin CER on clean, noisy and 8 kHz clips and sent a
    # code-switched answer into a loop (`bench asr`, *_gain_from_vocabulary lines).
    vocabulary_prompt: bool = False
    # N-best: keep this many Whisper hypotheses per segment (0: off; each segment is
    # decoded a second time) and let the language model ([llm]) pick the one that fits
    # the question; it may only correct within what the hypotheses hold. Off: measured on
    # Whisper base with qwen2.5-coder-0.5b it raised Mandarin CER on noisy and 8 kHz clips
    # and doubled recognition time (`bench asr`, *_gain_from_nbest_* lines).
    nbest: int = Field(0, ge=0, le=5)

    @field_validator("model_dir", "sensevoice_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class LLMSettings(_Section):
    provider: Literal["local", "openai_compatible", "fake"] = "local"
    model_dir: Path = Path("~/.cache/chat-interviewer/models/llm")
    model: str = "qwen2.5-coder-0.5b-instruct-q4_k_m"
    base_url: str = ""
    api_key: SecretStr | None = None
    temperature: float = Field(0.0, ge=0, le=2)
    timeout_seconds: int = Field(120, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    # json_schema: the server constrains the reply to the schema (OpenAI, vLLM, Ollama,
    # llama.cpp). json_object: only "some JSON" (DeepSeek, older Qwen endpoints); the
    # schema then goes into the prompt and the reply is still validated here.
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    # Requests one process keeps in flight to an OpenAI-compatible server at most (the
    # rest wait their turn here): a vLLM server batches what it gets, but past its
    # batch size requests only queue there and time out. The fleet's total is worker
    # processes x this; README "Scaling out".
    max_concurrency: int = Field(8, ge=1, le=1024)

    _check_key = field_validator("api_key")(_no_placeholder)

    @field_validator("model_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class WorkerSettings(_Section):
    count: int = Field(2, ge=1, le=64)
    poll_seconds: float = Field(0.5, gt=0)
    # "database": jobs run in this process from the job table (one machine);
    # "celery": a relay here publishes committed jobs to a broker and
    # `python main.py worker` processes run them (docs: README "Scaling out").
    backend: Literal["database", "celery"] = "database"
    broker_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672//")
    # Prepended to every queue name (several installations on one broker, tests).
    queue_prefix: str = Field("", max_length=40, pattern=r"^[A-Za-z0-9_.-]*$")
    relay_poll_seconds: float = Field(0.2, gt=0)
    # A job published this long ago and still not started is published again (a
    # relay killed between commit and publish, a message lost by the broker).
    republish_after_seconds: float = Field(3600, gt=0)
    # A job another worker started this long ago is taken over when redelivered
    # (brokers that do not flag redeliveries: Redis).
    stale_after_seconds: float = Field(3600, gt=0)


class MediaSettings(_Section):
    """Where encrypted media live: files under ``data_dir`` or an S3-compatible store
    every machine reaches (several machines: README "Scaling out")."""

    backend: Literal["filesystem", "s3"] = "filesystem"
    s3_bucket: str = "interviewer"
    s3_endpoint_url: str = ""  # empty: AWS itself
    s3_region: str = "us-east-1"
    s3_prefix: str = Field("", max_length=200)
    s3_access_key_id: str = ""  # empty: boto3's own chain (AWS_* variables, a role)
    s3_secret_access_key: SecretStr | None = None


class OutboxSettings(_Section):
    max_attempts: int = Field(8, ge=1, le=100)
    poll_seconds: float = Field(0.2, gt=0)
    # A claimed message is leased to its process this long (renewed while it sends); a
    # crashed process's claims are taken over by any other once their lease ran out.
    lease_seconds: float = Field(60.0, ge=1)


class MemberLimits(_Section):
    """What a platform lets an app send to each member (WeCom application messages,
    ``message/send``): WeCom drops, without an error, what goes over 30 a minute or 1,000
    an hour to one member, and an app may send its corp's seats x 200 person-times a day
    (one message to 1,000 members counts 1,000). App messages do not count against the
    per-API frequency (10,000 a minute per corp), so these are the limits that bind."""

    per_minute: int = Field(30, ge=1)  # per member
    per_hour: int = Field(1000, ge=1)  # per member
    per_day: int = Field(40_000, ge=1)  # per app, person-times: seats x 200 (200 seats here)
    keep_for_replies: int = Field(5, ge=0)  # a member's minute kept for replies to commands
    keep_for_results: int = Field(10, ge=0)  # progress leaves this much for results


class GroupPostSettings(_Section):
    """HR-group posts within each platform's per-group limit (dialogs/kernel/groupposts.py)."""

    # Posts (and edits) a minute per group; Telegram ~20, a WeCom group robot 20.
    per_minute: dict[str, int] = Field(
        default_factory=lambda: {"telegram": 20, "wecom": 20, "wechat": 20, "console": 60}
    )
    default_per_minute: int = Field(20, ge=1)
    fold_after_seconds: float = Field(120.0, gt=0)  # progress older than this is folded
    digest_seconds: float = Field(120.0, gt=0)  # a new digest post at most this often
    status_seconds: float = Field(30.0, gt=0)  # the live status (edited in place) this often
    tick_seconds: float = Field(1.0, gt=0)  # how often the scheduler looks (per process)
    # A group's posts spread over the minute: at most its share of the limit per window.
    window_seconds: int = Field(15, ge=1, le=60)
    merge_results: int = Field(10, ge=1)  # results that waited together: one post of at most
    # Characters a merged post may have: Telegram 4096; WeCom/WeChat 2048 bytes (~680 CJK).
    message_chars: dict[str, int] = Field(
        default_factory=lambda: {"telegram": 3800, "wecom": 650, "wechat": 650}
    )
    # Platforms whose group posts can reach members as app messages, and their limits
    # (WeCom: a post with buttons to a robot chat is a card to each of the job's HR users).
    member_limits: dict[str, MemberLimits] = Field(
        default_factory=lambda: {"wecom": MemberLimits()}
    )
    # Buttons one post may carry (a WeCom template card shows 6): merged results fit them.
    post_buttons: dict[str, int] = Field(default_factory=lambda: {"wecom": 6})
    # Bot-wide: messages a second per platform; candidates' replies go first.
    bot_per_second: dict[str, float] = Field(default_factory=lambda: {"telegram": 30.0})

    def limit(self, platform: str) -> int:
        return self.per_minute.get(platform, self.default_per_minute)


class TelegramSettings(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    group_admins_decide: bool = False
    rate_limiter: bool = True  # PTB's AIORateLimiter; off only to measure raw throughput

    _check = field_validator("token", "webhook_secret")(_no_placeholder)


class WeChatSettings(_Section):
    enabled: bool = False
    app_id: str | None = None
    app_secret: SecretStr | None = None
    token: SecretStr | None = None
    aes_key: SecretStr | None = None
    template_id: str | None = None
    api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    work_enabled: bool = False
    corp_id: str | None = None
    corp_secret: SecretStr | None = None
    agent_id: str | None = None
    work_token: SecretStr | None = None
    work_aes_key: SecretStr | None = None
    robot_webhook: SecretStr | None = None
    work_api_base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    # "Sign in with WeCom" on the HR console (needs WECOM_CORP_ID, WECOM_SECRET,
    # WECOM_AGENT_ID and the app's trusted domain set to the public URL's host): "qr" is
    # WeCom's web login (scan with the WeCom app), "in_app" its OAuth inside the WeCom app.
    work_oauth: bool = False
    work_oauth_mode: Literal["qr", "in_app"] = "qr"
    work_oauth_url: str = ""  # the authorize page; empty: WeCom's own for the mode

    _check = field_validator("app_secret", "token", "aes_key", "corp_secret")(_no_placeholder)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, gt=0, lt=65536)
    max_body_bytes: int = Field(1_000_000, gt=0)
    # On SIGTERM, /readyz answers 503 this long before the process stops taking updates
    # (a load balancer's readiness interval), then it drains and exits.
    drain_grace_seconds: float = Field(0.0, ge=0, le=300)


class SmtpSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(25, gt=0, lt=65536)
    sender: str = "hr@example.com"
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


class ScheduleSettings(_Section):
    """Slots and reminders (dialogs/scheduling/, dialogs/kernel/timers.py)."""

    remind_before_hours: list[float] = Field(default_factory=lambda: [24.0, 1.0])
    slot_minutes: int = Field(30, gt=0, le=480)
    offer_count: int = Field(3, ge=1, le=8)
    min_notice_minutes: int = Field(60, ge=0)
    no_show_grace_minutes: int = Field(15, ge=0)
    allow_start_now: bool = True
    nudge_after_hours: float = Field(24.0, gt=0)
    invite_expiry_warning_hours: float = Field(24.0, ge=0)
    stale_after_minutes: int = Field(120, gt=0)
    contract_remind_days: list[int] = Field(default_factory=lambda: [30, 7])
    lease_seconds: int = Field(60, ge=5)
    sync_seconds: float = Field(15.0, gt=0)


class EmployerSettings(_Section):
    """The employer's particulars for contracts (LCL Art. 17)."""

    name: str = ""
    domicile: str = ""
    legal_representative: str = ""
    credit_code: str = ""
    phone: str = ""


class ContractSettings(_Section):
    p12_path: Path | None = None
    p12_password: SecretStr | None = None
    tsa_url: str | None = None
    link_hours: int = Field(72, gt=0)


class RetentionSettings(_Section):
    """How long each kind of personal data is kept (dialogs/privacy/retention.py, a daily job)."""

    enabled: bool = True
    media_days_after_decision: int = Field(90, ge=1)  # recordings, once a person decided
    rejected_record_days: int = Field(365, ge=1)  # whole record of a rejected candidate
    unfinished_days: int = Field(180, ge=1)  # never finished (invited, declined, locked ...)
    inbox_outbox_days: int = Field(30, ge=1)  # raw chat events and sent messages
    audit_days: int = Field(1095, ge=1)  # the audit log


class RateLimitSettings(_Section):
    """Per-user token buckets (dialogs/kernel/ratelimit.py); flooding gets one polite reply."""

    enabled: bool = True
    burst: int = Field(30, ge=1)  # messages a user may send at once
    per_minute: float = Field(30.0, gt=0)  # then this many a minute
    command_burst: int = Field(20, ge=1)  # commands and button presses at once
    command_per_minute: float = Field(20.0, gt=0)
    notice_seconds: float = Field(60.0, gt=0)  # at most one slow-down reply per window
    # Bot-wide send budgets (``[groups] bot_per_second``) shared by every process through
    # Redis (dialogs/kernel/botbudget.py); unset: each process keeps its own.
    redis_url: SecretStr | None = None
    # Of a shared budget, HR-group posts may use only this share; the rest is kept for
    # candidates' replies.
    group_share: float = Field(0.5, gt=0, le=1)


class Settings(_Section):
    app: AppSettings = Field(default_factory=AppSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    interview: InterviewSettings = Field(default_factory=InterviewSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    groups: GroupPostSettings = Field(default_factory=GroupPostSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    contracts: ContractSettings = Field(default_factory=ContractSettings)
    employer: EmployerSettings = Field(default_factory=EmployerSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)

    def secrets(self) -> list[str]:
        """Every secret value set, so the log filter can mask them."""
        found: list[str] = []
        for section in self.__dict__.values():
            if isinstance(section, BaseModel):
                for value in section.__dict__.values():
                    if isinstance(value, SecretStr):
                        found.append(value.get_secret_value())
        return found

    def resolve_paths(self, base: Path) -> Settings:
        """Relative paths in the file are relative to the project folder."""
        if not self.app.data_dir.is_absolute():
            self.app.data_dir = base / self.app.data_dir
        if not self.security.key_file.is_absolute():
            self.security.key_file = base / self.security.key_file
        url = self.database.url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                self.database.url = f"sqlite:///{(base / rel).as_posix()}"
        return self


def _set(data: dict[str, Any], path: tuple[str, str], value: Any) -> None:
    data.setdefault(path[0], {})[path[1]] = value


def load_settings(
    path: Path | str | None = None,
    *,
    env: dict[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Settings:
    """Read the TOML file, apply environment overrides, validate.

    Raises:
        ConfigError: naming every wrong key and what is wrong with it.
    """
    env = dict(os.environ) if env is None else env
    file = Path(path) if path else Path(env.get("INTERVIEWER_CONFIG", "config.toml"))
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    elif path is not None:
        raise ConfigError(f"{file}: file not found")
    for name, key in ENV_OVERRIDES.items():
        if env.get(name):
            _set(data, key, env[name])
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError(
            "invalid configuration in " + str(file) + ":\n  " + "\n  ".join(problems)
        ) from None
    _check_enabled(settings)
    return settings.resolve_paths(file.resolve().parent)


def _check_enabled(settings: Settings) -> None:
    if settings.telegram.enabled and settings.telegram.token is None:
        raise ConfigError("telegram.token: telegram is enabled but TELEGRAM_TOKEN is not set")
    wc = settings.wechat
    if wc.enabled and not (wc.app_id and wc.app_secret and wc.token):
        raise ConfigError(
            "wechat: enabled but WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN are not all set"
        )
    if wc.work_enabled and not (wc.corp_id and wc.corp_secret and wc.agent_id):
        raise ConfigError(
            "wechat.work_enabled: WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID must be set"
        )
    if wc.work_oauth and not (wc.corp_id and wc.corp_secret and wc.agent_id):
        raise ConfigError(
            "wechat.work_oauth: WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID must be set"
        )
    if settings.llm.provider == "openai_compatible" and not settings.llm.base_url:
        raise ConfigError("llm.base_url: required when llm.provider = 'openai_compatible'")


DEMO_FOLDER = "demo"  # under [app] data_dir: where ``main.py demo`` leaves its data


def demo_settings(base: Settings, folder: Path | None = None) -> Settings:
    """The demo's settings: its own SQLite file, key and data folder (``data_dir/demo``
    unless ``folder``), and the console users' roles. ``main.py demo`` writes there;
    ``run --demo`` and ``console link --demo`` read it."""
    folder = folder if folder is not None else base.app.data_dir / DEMO_FOLDER
    settings = base.model_copy(deep=True)
    settings.database.url = f"sqlite:///{folder / 'demo.sqlite3'}"
    settings.security.key_file = folder / "keys" / "data.key"
    settings.security.data_key = None
    settings.app.data_dir = folder
    settings.roles.admins = ["console:admin"]
    settings.roles.hr_managers = ["console:hr"]
    settings.roles.hr_viewers = ["console:viewer"]
    return settings
