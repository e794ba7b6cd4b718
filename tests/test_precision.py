"""trainer.precision=auto: the decision is a pure function of the hardware facts, driven here with fake ones."""

import logging

import pytest
import torch

from dip_lightning.hardware import precision
from dip_lightning.hardware.precision import HardwareFacts, choose_precision, compute_dtype, hardware_facts

ZEN4 = HardwareFacts("AMD EPYC", "AVX512", cpu_bf16_instructions=True, mkldnn_bf16=True)
SAPPHIRE_RAPIDS = HardwareFacts("Xeon", "AVX512", cpu_bf16_instructions=True, cpu_amx=True, mkldnn_bf16=True)
SKYLAKE = HardwareFacts("Xeon", "AVX512", cpu_bf16_instructions=False, mkldnn_bf16=True)  # oneDNN emulates bf16
ZEN2 = HardwareFacts("AMD EPYC", "AVX2", cpu_bf16_instructions=False, mkldnn_bf16=False)
OLD_TORCH_AVX512 = HardwareFacts("CPU", "AVX512", cpu_bf16_instructions=None, mkldnn_bf16=True)
OLD_TORCH_AVX2 = HardwareFacts("CPU", "AVX2", cpu_bf16_instructions=None, mkldnn_bf16=False)
A100 = HardwareFacts("NVIDIA A100", cuda_bf16=True)
V100 = HardwareFacts("Tesla V100", cuda_bf16=False)


@pytest.mark.parametrize(
    "accelerator, facts, expected, words",
    [
        ("cpu", ZEN4, "bf16-mixed", "native bf16"),
        ("cpu", SAPPHIRE_RAPIDS, "bf16-mixed", "AMX"),
        ("cpu", SKYLAKE, "32-true", "no native bf16"),
        ("cpu", ZEN2, "32-true", "no native bf16"),
        ("cpu", OLD_TORCH_AVX512, "bf16-mixed", "native bf16"),
        ("cpu", OLD_TORCH_AVX2, "32-true", "no native bf16"),
        ("cuda", A100, "bf16-mixed", "A100 has native bf16"),
        ("cuda", V100, "32-true", "V100 has no native bf16"),
        ("mps", HardwareFacts("Apple M2"), "32-true", "mps"),
    ],
)
def test_auto_picks_bf16_only_where_it_is_native(accelerator, facts, expected, words):
    choice = choose_precision("auto", accelerator, facts)
    assert choice.precision == expected
    assert choice.reason.startswith(f"trainer.precision=auto chose {expected}") and words in choice.reason
    assert not choice.slow and "\n" not in choice.reason


@pytest.mark.parametrize("requested", ["32-true", 32, "16-mixed", "bf16-mixed", "bf16-true"])
def test_an_explicit_precision_passes_through_unchanged(requested):
    assert choose_precision(requested, "cpu", ZEN4) == (
        requested,
        f"trainer.precision={requested} as configured",
        False,
    )


@pytest.mark.parametrize("requested", ["bf16-mixed", "bf16-true"])
@pytest.mark.parametrize("accelerator, facts", [("cpu", ZEN2), ("cpu", SKYLAKE), ("cuda", V100)])
def test_explicit_bf16_without_native_bf16_is_kept_but_flagged_slow(requested, accelerator, facts):
    choice = choose_precision(requested, accelerator, facts)
    assert choice.precision == requested and choice.slow
    assert "32-true is faster" in choice.reason


def test_resolve_precision_logs_a_warning_for_slow_bf16(monkeypatch, caplog):
    monkeypatch.setattr(precision, "hardware_facts", lambda accelerator: ZEN2)
    with caplog.at_level(logging.INFO, logger="dip_lightning.hardware.precision"):
        assert precision.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert precision.resolve_precision("auto", "cpu") == "32-true"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "AVX2" in caplog.records[0].getMessage()


def test_auto_and_gpu_accelerators_resolve_to_the_device_lightning_uses(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert precision.resolve_accelerator("auto") == "cpu"
    assert precision.resolve_accelerator("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert precision.resolve_accelerator("auto") == precision.resolve_accelerator("gpu") == "cuda"


def test_the_facts_of_this_cpu_are_torchs():
    facts = hardware_facts("cpu")
    assert facts.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert facts.mkldnn_bf16 == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert not facts.cuda_bf16


@pytest.mark.parametrize(
    "setting, dtype",
    [
        ("bf16-mixed", torch.bfloat16),
        ("bf16-true", torch.bfloat16),
        ("16-mixed", torch.float16),
        ("32-true", torch.float32),
        (32, torch.float32),
    ],
)
def test_compute_dtype(setting, dtype):
    assert compute_dtype(setting) == dtype
