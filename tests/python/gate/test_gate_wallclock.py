"""Pure parts of the wall-clock runner (no servers, no load)."""
import pytest

from perfgate import wallclock as W


def test_load_from_profile_uses_the_bench_profiles():
    p = W.load_from_profile("pipeline@c32")
    assert (p.name, p.connections, p.pipeline, p.path) == ("pipeline", 32, 16, "/")
    assert p.id == "pipeline@c32"
    plain = W.load_from_profile("plaintext")
    assert plain.pipeline == 1 and plain.connections == 100      # the profile's first level
    assert W.load_from_profile("plaintext@c50").profile().connections == (50,)


def test_load_from_profile_rejects_what_the_gate_cannot_drive():
    with pytest.raises(ValueError, match="unknown profile"):
        W.load_from_profile("nope@c1")
    with pytest.raises(ValueError, match="not a GET wrk profile"):
        W.load_from_profile("echo-4k")


def test_samples_keep_pairs_aligned():
    rec = {"pairs": [{"base": {"cpu_us_per_req": 1.0}, "cand": {"cpu_us_per_req": 1.1}},
                     {"base": {"cpu_us_per_req": 2.0}, "cand": {"cpu_us_per_req": 2.2}}]}
    assert W.samples(rec, "cpu_us_per_req") == ([1.0, 2.0], [1.1, 2.2])


def test_run_pairs_rejects_unknown_scheme():
    with pytest.raises(ValueError):
        W.run_pairs([], scheme="sideways")


def test_run_pairs_stops_a_case_whose_server_cannot_start(tmp_path):
    """A binary that does not exist: every pair fails fast, the case stops after three."""
    t = W.Target("base", str(tmp_path / "missing"))
    case = W.Case(W.load_from_profile("plaintext@c1"), "epoll", t,
                  W.Target("candidate", str(tmp_path / "missing")))
    lines = []
    out = W.run_pairs([case], pairs=10, seed=1, log_dir=tmp_path, progress=lines.append)
    rec = out[case.id]
    assert rec["pairs"] == [] and len(rec["failures"]) == 3
    assert rec["stopped"].startswith("stopped after failures")
    assert all("FAILED" in l for l in lines)


def _pair(**m):
    machine = dict({"server_cpu_busy": 0.99, "client_cpu_busy": 0.99, "server_cpu_steal": 0.0,
                    "client_cpu_steal": 0.01}, **m)
    return {"base": {"machine": machine}, "cand": {"machine": machine}}


def test_disturbed_pairs_are_named():
    assert W.disturbed(_pair(), "concurrent") is None
    assert "steal 70% on the client CPU" in W.disturbed(_pair(client_cpu_steal=0.70), "concurrent")
    assert "steal 25% on the server CPU" in W.disturbed(_pair(server_cpu_steal=0.25), "interleaved")
    assert W.disturbed(_pair(server_cpu_busy=0.60), "concurrent") is None       # idle check off
    assert "idle 40%" in W.disturbed(_pair(server_cpu_busy=0.60), "concurrent", max_idle=0.1)
    assert W.disturbed({"base": {}, "cand": {}}, "concurrent") is None     # no figures: not judged
    assert W.disturbed(_pair(client_cpu_steal=0.2), "concurrent", max_steal=0.3) is None


def test_machine_load_fractions():
    before = {0: (10.0, 1.0), 1: (20.0, 2.0)}
    after = {0: (11.9, 1.1), 1: (21.0, 3.4)}
    m = W.machine_load(before, after, 2.0, 0, 1, 1.7)
    assert m == {"window_s": 2.0, "server_cpu_busy": 0.95, "client_cpu_busy": 0.5,
                 "server_cpu_steal": 0.05, "client_cpu_steal": 0.7, "server_util": 0.85}
    assert W.machine_load(before, after, 2.0, None, 7, 1.0)["server_cpu_busy"] is None
    busy = W.cpu_busy()
    assert 0 in busy and busy[0][0] >= busy[0][1] >= 0
