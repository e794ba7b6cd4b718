from dip_lightning.hardware import machine


def test_cpu_flags_keep_only_the_flags_that_decide_speed(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo_field", lambda name: "fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 vmx")
    assert machine.cpu_flags() == "avx2 avx512f avx512_bf16 amx_bf16"
    monkeypatch.setattr(machine, "_cpuinfo_field", lambda name: None)
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    monkeypatch.setattr(machine.platform, "machine", lambda: "riscv64")
    assert machine.cpu_flags() == "unknown" and machine.cpu_name() == "riscv64"  # without /proc/cpuinfo
    monkeypatch.setattr(machine.platform, "machine", lambda: "")
    assert machine.cpu_name() == "unknown CPU"
    monkeypatch.setattr(machine, "_cpuinfo_field", lambda name: "AMD EPYC 9B14" if name == "model name" else None)
    assert machine.cpu_name() == "AMD EPYC 9B14"
