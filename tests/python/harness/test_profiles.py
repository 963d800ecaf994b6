"""Profiles, sets and the command lines built from them."""
import pytest

from vexbench import ab, hyperfine, profiles, wrk
from vexbench.profiles import Profile, ProfileError, make_plan


def test_issue_profiles_exist():
    ps = profiles.load_profiles()
    assert ps["plaintext"].connections == (100, 1000)
    assert ps["pipeline"].pipeline == 16
    assert ps["json"].path == "/json"
    assert ps["bytes-64k"].path == "/bytes/65536"
    assert ps["echo-4k"].method == "POST" and ps["echo-4k"].body_bytes == 4096
    assert ps["churn"].tool == "ab" and not ps["churn"].keepalive
    assert ps["ab-keepalive"].tool == "ab" and ps["ab-keepalive"].keepalive
    assert ps["c10k"].connections == (10000,)
    assert ps["fixed-work"].tool == "hyperfine" and ps["fixed-work"].requests > 0
    assert ps["memory-idle"].tool == "idle"


@pytest.mark.parametrize("name", ["smoke", "quick", "full", "logging"])
def test_sets_resolve(name):
    plan = make_plan(name)
    assert plan.cases and plan.trials >= 2 and plan.duration > 0
    assert len({c.id for c in plan.cases}) == len(plan.cases)


def test_quick_is_about_a_minute_per_target():
    from vexbench.runner import case_weight
    plan = make_plan("quick")
    secs = sum(case_weight(c, 1, plan.trials) for c in plan.cases)
    assert 40 <= secs <= 90, secs


def test_smoke_is_short():
    from vexbench.runner import case_weight
    plan = make_plan("smoke")
    assert sum(case_weight(c, 1, plan.trials) for c in plan.cases) < 25


def test_overrides_and_command_line():
    plan = make_plan("smoke")
    assert [c.id for c in plan.cases if c.profile.name == "plaintext"] == ["plaintext@c50"]
    plan = make_plan("plaintext,json", duration=3, trials=4, connections=[10, 20])
    assert [c.id for c in plan.cases] == ["plaintext@c10", "plaintext@c20", "json@c10", "json@c20"]
    assert plan.trials == 4 and all(c.duration == 3 for c in plan.cases)
    # sweep = false profiles keep their connections
    plan = make_plan("c10k", connections=[5], duration=1)
    assert [c.id for c in plan.cases] == ["c10k@c10000"]
    assert plan.cases[0].duration == 2          # min_duration


def test_bad_profiles():
    with pytest.raises(ProfileError):
        make_plan("no-such-thing")
    with pytest.raises(ProfileError):
        Profile.from_dict("x", {"tool": "curl"})
    with pytest.raises(ProfileError):
        Profile.from_dict("x", {"tool": "ab", "pipeline": 4})
    with pytest.raises(ProfileError):
        Profile.from_dict("x", {"tool": "wrk", "colour": "red"})
    with pytest.raises(ProfileError):
        make_plan("smoke", trials=0)


def test_profile_files_in_other_dir(tmp_path):
    (tmp_path / "a.toml").write_text('tool = "wrk"\npath = "/json"\nconnections = 7\n')
    (tmp_path / "sets.toml").write_text('[s]\nprofiles = ["a"]\nduration = 1\ntrials = 2\n'
                                        '[s.overrides.a]\nconnections = [3, 4]\n')
    plan = make_plan("s", directory=tmp_path)
    assert [c.id for c in plan.cases] == ["a@c3", "a@c4"] and plan.trials == 2


def test_wrk_lua_and_command():
    ps = profiles.load_profiles()
    lua = wrk.lua_script(ps["echo-4k"])
    assert 'wrk.method = "POST"' in lua and "x" * 4096 in lua
    assert "done = function" in lua and "init = function" not in lua
    lua = wrk.lua_script(ps["pipeline"])
    assert "init = function" in lua and "done = function" in lua
    cmd = wrk.command("http://127.0.0.1:1/", ps["pipeline"], 256, 1.5, "s.lua", cpu=1)
    assert cmd[:3] == ["taskset", "-c", "1"]
    assert cmd[cmd.index("-d") + 1] == "2s" and cmd[-2:] == ["--", "16"]
    nk = wrk.lua_script(ps["plaintext"].replace(keepalive=False))
    assert 'wrk.headers["Connection"] = "close"' in nk


def test_ab_command_is_bounded():
    ps = profiles.load_profiles()
    cmd = ab.command("http://127.0.0.1:1/", ps["churn"], 50, 2, "x.csv", cpu=1)
    assert cmd.index("-t") < cmd.index("-n"), "-n must follow -t (which implies -n 50000)"
    assert "-k" not in cmd and "-r" in cmd and cmd[:3] == ["taskset", "-c", "1"]
    cmd = ab.command("http://127.0.0.1:1/echo", ps["echo-4k"].replace(tool="ab"), 5, 1, "x.csv",
                     body_path="b")
    assert cmd[cmd.index("-p") + 1] == "b" and "-T" in cmd and "-k" in cmd


def test_hyperfine_commands():
    ps = profiles.load_profiles()
    cmd = hyperfine.fixed_work_command("http://127.0.0.1:1/", ps["fixed-work"], 50, "o.json", "x.csv")
    assert cmd[cmd.index("--runs") + 1] == "3" and "--export-json" in cmd
    assert "ab -q -t 60 -n 20000" in cmd[-1]
    b = hyperfine.build_command(["epoll", "poll"], "/tmp/b", "o.json")
    assert b[b.index("--parameter-list") + 1:b.index("--parameter-list") + 3] == ["backend", "epoll,poll"]
    assert "B=/tmp/b/{backend}" in b[-1]
