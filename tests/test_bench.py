"""`python build.py bench` (benchmarks/speed.py): the FLOP count it divides by, the matmul peak, the table."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"


def load_speed():
    spec = importlib.util.spec_from_file_location("speed_bench", ROOT / "benchmarks" / "speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speed():
    return load_speed()


def test_flops_grow_with_passes_and_layers(speed, tiny_pipes):
    fast = speed.generation_gflop(tiny_pipes[1], 52, "fast")
    best = speed.generation_gflop(tiny_pipes[1], 52, "best")
    deeper = speed.generation_gflop(tiny_pipes[2], 52, "fast")
    assert 0 < fast < best and fast < deeper
    # the transformer's share of the work scales with its passes: 18 passes are well over twice 4
    assert best > 2 * fast


def test_matmul_rate_is_positive_and_plausible(speed):
    rate = speed.matmul_rate_gflops(1, seconds=0.05)
    assert 0.5 < rate < 5000


def test_table_has_every_row_and_the_peak_fraction(speed, capsys):
    rows = [dict(preset="small", mode="next-scale", schedule="fast", frames=196, parameters=7e6, time_s=0.05, gflop=2.0),
            dict(preset="small", mode="next-token", schedule="next-token", frames=196, parameters=7e6, time_s=0.1,
                 gflop=1.0)]
    speed.print_table({1: (rows, 80.0)}, busy=False)
    out = capsys.readouterr().out
    fast_line = next(line for line in out.splitlines() if "MoScale fast" in line)
    assert "| 40 |" in fast_line and "50%" in fast_line and "0.50x" in fast_line  # 2 GFLOP / 0.05 s of 80
    assert "next-token baseline" in out and "80 GFLOP/s at 1 thread" in out


def test_build_py_bench_defaults_to_the_speed_table():
    out = subprocess.run([sys.executable, str(ROOT / "build.py"), "bench", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "default: speed" in out


def test_prompts_benchmark_scores_every_section_on_a_tiny_model(tiny_pipes):
    """benchmarks/prompts.py end to end on a random model: every measure is computed and every table is printed (the
    numbers of a random model mean nothing; that they exist and are in range does)."""
    spec = importlib.util.spec_from_file_location("prompts_bench", ROOT / "benchmarks" / "prompts.py")
    prompts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prompts)
    result = prompts.score(tiny_pipes[1], seeds=1, foot_lock=True)
    assert {f"headline_{s:g}s" for s in prompts.HEADLINE_SECONDS} <= set(result)
    assert len(result["compounds"]) == len(prompts.COMPOUNDS)
    assert all(0 <= c["both"] <= min(c["first"], c["second"]) <= 1 for c in result["compounds"])
    (timeline,) = result["timeline"]
    assert np.isfinite(timeline["forward_m"]) and timeline["seam_m_per_frame"] >= 0
    assert result["seconds_per_10s_clip"] > 0
    table = prompts.table([("tiny", result)])
    for title in ("headline length", "timeline walks forward:4", "compound prompt"):
        assert title in table
