"""Trailer parsing, accepted regressions and base resolution on a throw-away repository."""
import subprocess

import pytest

from perfgate import gitref as G


def test_parse_trailers_last_paragraph():
    msg = ("Parse headers with SIMD\n\nFaster on long headers, slower on tiny ones.\n\n"
           "Perf-Regression-Accepted: 3% on plaintext, buys 20% on large headers\n"
           "Signed-off-by: A U Thor <a@example.com>\n")
    assert G.parse_trailers(msg) == [
        ("Perf-Regression-Accepted", "3% on plaintext, buys 20% on large headers"),
        ("Signed-off-by", "A U Thor <a@example.com>")]
    assert G.accepted_reasons(msg) == ["3% on plaintext, buys 20% on large headers"]


def test_trailer_key_is_case_insensitive_and_folds_continuations():
    msg = "Subject\n\nperf-regression-accepted: first line\n  continued here\n"
    assert G.accepted_reasons(msg) == ["first line continued here"]


def test_not_a_trailer():
    assert G.accepted_reasons("Perf-Regression-Accepted: only a subject") == []
    body = "Subject\n\nPerf-Regression-Accepted: x\nthis line is prose, not a trailer\n"
    assert G.accepted_reasons(body) == []
    mid = "Subject\n\nPerf-Regression-Accepted: in the middle\n\nLast paragraph is prose.\n"
    assert G.accepted_reasons(mid) == []
    assert G.accepted_reasons("Subject\n\nPerf-Regression-Accepted:\n") == []


@pytest.fixture
def repo(tmp_path):
    def git(*a):
        return subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "T")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("commit", "-q", "-m", "base commit")
    git("checkout", "-q", "-b", "feature")
    (tmp_path / "f").write_text("2")
    git("commit", "-q", "-am", "Slower but safer\n\nExplain.\n\n"
        "Perf-Regression-Accepted: bounds checks cost 4%")
    (tmp_path / "f").write_text("3")
    git("commit", "-q", "-am", "Unrelated")
    return tmp_path, git


def test_accepted_regressions_from_git(repo):
    path, git = repo
    base = git("rev-parse", "main")
    acc = G.accepted_regressions(base, "HEAD", cwd=path)
    assert [a["reason"] for a in acc] == ["bounds checks cost 4%"]
    assert acc[0]["subject"] == "Slower but safer"
    assert acc[0]["commit"] == git("rev-parse", "HEAD~1")
    assert G.accepted_regressions("HEAD~1", "HEAD", cwd=path) == []


def test_resolve_base_default_is_merge_base_with_main(repo, monkeypatch):
    path, git = repo
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    sha, how = G.resolve_base(None, cwd=path)
    assert sha == git("rev-parse", "main") and "merge-base" in how and "main" in how
    sha, how = G.resolve_base("HEAD~1", cwd=path)
    assert sha == git("rev-parse", "HEAD~1")
    with pytest.raises(G.GitError):
        G.resolve_base("no-such-ref", cwd=path)


def test_worktree_add_leaves_the_checkout_alone(repo):
    path, git = repo
    before = git("status", "--porcelain"), git("rev-parse", "HEAD")
    wt = G.worktree_add(git("rev-parse", "main"), cwd=path)
    try:
        assert (wt / "f").read_text() == "1"
        assert (git("status", "--porcelain"), git("rev-parse", "HEAD")) == before
    finally:
        G.worktree_remove(wt, cwd=path)
    assert not wt.exists()
    assert G.dirty(cwd=path) is False
    (path / "new").write_text("x")
    assert G.dirty(cwd=path) is True
