"""The benchmark runs end to end on tiny sizes, and its transcriptions compute what the modules
compute (otherwise the "x naive" column would compare different things). No timing assertions."""
import math

import pytest
import torch

import chattn
from chattn import bench

torch.set_num_threads(1)


def test_main_prints_a_row_per_module_with_finite_positive_ratios(capsys):
    rows = bench.main(["--batch", "2", "--channels", "32", "--size", "8", "--repeats", "1"])
    out = capsys.readouterr().out
    assert [r["name"] for r in rows] == chattn.available()
    for r in rows:
        for key in ("time", "floor_ratio", "naive_time", "naive_ratio"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["name"], key, r[key])
    table = out.strip().splitlines()
    assert table[0].startswith("B=2 C=32 8x8") and "floor" in table[1]
    body = table[3:-1]
    assert table[-1].startswith("x floor = module / floor")
    assert [line.split()[0] for line in body] == chattn.available()
    for line, r in zip(body, rows):
        assert float(line.split()[2]) == pytest.approx(r["floor_ratio"], abs=0.006)


def test_main_options_reach_the_header(capsys):
    bench.main(["--batch", "2", "--channels", "16", "--size", "7", "--repeats", "1", "--clock", "wall",
                "--default-malloc"])
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("B=2 C=16 7x7") and "wall clock" in header and "default malloc" in header


def test_wall_clock_and_more_rounds():
    floor_time, rows = bench.run(batch=2, channels=32, size=8, repeats=3, names=["se", "gct"], clock="wall")
    assert floor_time > 0 and [r["name"] for r in rows] == ["se", "gct"]
    assert rows[0]["target"] == 1.3


@pytest.mark.parametrize("name", chattn.available())
@pytest.mark.parametrize("shape", [(2, 32, 8, 8), (3, 64, 14, 14)])
def test_transcription_computes_the_module_output(name, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    bench.check_naive(name, x)


def test_build_moves_parameters_off_their_init():
    gct = bench.build("gct", 32, 8)
    x = torch.randn(2, 32, 8, 8)
    assert not torch.allclose(gct(x), x)            # a fresh GCT is the identity
    srm = bench.build("srm", 32, 8)
    assert not torch.allclose(srm.attention(x), torch.full((2, 32, 1, 1), 0.5))


def test_measure_samples_slow_candidates_in_fewer_rounds():
    calls = {"fast": 0, "slow": 0}

    def fast(x):
        calls["fast"] += 1

    def slow(x):
        calls["slow"] += 1
        t = torch.zeros(())
        for _ in range(5000):           # milliseconds of CPU work
            t = t + 1

    bench.measure({"fast": fast, "slow": slow}, torch.zeros(1), repeats=12, budget=1e-3)
    assert calls["fast"] == 1 + 12                  # warm-up + every round
    assert calls["slow"] == 1 + 3                   # warm-up + rounds 0, 5, 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        bench.run(size=4, repeats=1)
    with pytest.raises(ValueError, match="names"):
        bench.run(batch=2, channels=32, size=8, repeats=1, names=["nope"])
    with pytest.raises(ValueError, match="clock"):
        bench.measure({"f": bench.floor}, torch.zeros(1, 1, 1, 1), 1, clock="gpu")
    with pytest.raises(ValueError, match="repeats"):
        bench.measure({"f": bench.floor}, torch.zeros(1, 1, 1, 1), 0)
    with pytest.raises(SystemExit):
        bench.main(["--clock", "gpu"])
