"""vex_loadgen's schedule (--dry-schedule): constant rate without drift, Poisson gaps of
the right mean and shape, reproducible by seed; and its argument checks."""
import subprocess

import numpy as np
import pytest
from scipy import stats


def offsets(loadgen, *args):
    r = subprocess.run([str(loadgen), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return np.array([int(x) for x in r.stdout.split()], dtype=np.int64)


@pytest.mark.parametrize("rate", [1000, 3, 7777.5])
def test_constant_rate_is_exact_and_does_not_drift(loadgen_epoll, rate):
    o = offsets(loadgen_epoll, "--rate", str(rate), "--dry-schedule", "100000")
    i = np.arange(100000)
    assert (o == np.floor(i * 1e9 / rate).astype(np.int64)).all()


def test_poisson_gaps_are_exponential_with_the_rate(loadgen_epoll):
    rate = 2000.0
    o = offsets(loadgen_epoll, "--rate", str(rate), "--schedule", "poisson", "--seed", "42",
                "--dry-schedule", "50000")
    assert o[0] == 0 and (np.diff(o) >= 0).all()
    gaps = np.diff(o) / 1e9
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.03)
    assert gaps.std() == pytest.approx(1 / rate, rel=0.05)     # exponential: sd = mean
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > 1e-3
    # the count in each 1 s window is Poisson(rate): its variance is about its mean
    counts = np.bincount((o // 10 ** 9).astype(int))[:-1]
    assert counts.mean() == pytest.approx(rate, rel=0.05)


def test_poisson_seed_reproduces_and_differs(loadgen_epoll):
    a = offsets(loadgen_epoll, "--rate", "500", "--schedule", "poisson", "--seed", "9",
                "--dry-schedule", "1000")
    b = offsets(loadgen_epoll, "--rate", "500", "--schedule", "poisson", "--seed", "9",
                "--dry-schedule", "1000")
    c = offsets(loadgen_epoll, "--rate", "500", "--schedule", "poisson", "--seed", "10",
                "--dry-schedule", "1000")
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize("args", [
    [], ["--rate", "100"], ["--url", "http://127.0.0.1:1/", "--duration", "1"],
    ["--url", "http://localhost:80/", "--rate", "1", "--duration", "1"],
    ["--url", "ftp://127.0.0.1:1/", "--rate", "1", "--duration", "1"],
    ["--url", "http://127.0.0.1:99999/", "--rate", "1", "--duration", "1"],
    ["--url", "http://127.0.0.1:1/", "--rate", "-5", "--duration", "1"],
    ["--url", "http://127.0.0.1:1/", "--rate", "5", "--duration", "1", "--schedule", "bursty"],
    ["--url", "http://127.0.0.1:1/", "--rate", "5", "--duration", "1", "--connections", "0"],
    ["--bogus"],
])
def test_bad_arguments_exit_2_with_usage(loadgen_epoll, args):
    r = subprocess.run([str(loadgen_epoll), *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage: vex_loadgen" in r.stderr or "not a numeric address" in r.stderr


def test_help(loadgen_epoll):
    r = subprocess.run([str(loadgen_epoll), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--rate" in r.stdout and "intended send time" in r.stdout
