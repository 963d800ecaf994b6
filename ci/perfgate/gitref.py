"""Which commits the gate compares, worktrees for them, and accepted regressions.

Base: `--base REF`, else the merge-base of HEAD with the first of origin/$GITHUB_BASE_REF,
main, origin/main, master, origin/master that exists. Candidate: the working tree (with
any uncommitted changes) or `--candidate REF`.

Accepting an intended regression: a commit between the base and the candidate carries
the trailer (last paragraph of the message, git's trailer rules)

    Perf-Regression-Accepted: <reason>

The gate then passes with the reason recorded in its report.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

TRAILER = "Perf-Regression-Accepted"
_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*?)\s*$")


class GitError(RuntimeError):
    pass


def git(*args, cwd=None, check: bool = True) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout.strip()


def repo_root(path=None) -> Path:
    return Path(git("rev-parse", "--show-toplevel", cwd=path))


def rev(ref: str, cwd=None) -> str:
    return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd)


def ref_exists(ref: str, cwd=None) -> bool:
    try:
        rev(ref, cwd)
        return True
    except GitError:
        return False


def default_base_candidates() -> list:
    out = []
    gh = os.environ.get("GITHUB_BASE_REF")
    if gh:
        out += [f"origin/{gh}", gh]
    return out + ["main", "origin/main", "master", "origin/master"]


def resolve_base(ref: str | None, cwd=None) -> tuple:
    """(sha, how) of the base commit."""
    if ref:
        try:
            return rev(ref, cwd), f"{ref}"
        except GitError:
            raise GitError(f"base ref {ref!r} does not name a commit") from None
    for cand in default_base_candidates():
        if ref_exists(cand, cwd):
            try:
                mb = git("merge-base", "HEAD", cand, cwd=cwd)
            except GitError:
                continue
            return mb, f"merge-base of HEAD and {cand}"
    raise GitError("no base: none of " + ", ".join(default_base_candidates()) +
                   " exists; pass --base REF (BASE=ref)")


def dirty(cwd=None) -> bool:
    """Uncommitted changes, untracked files included (new sources change the build)."""
    return bool(git("status", "--porcelain", "--untracked-files=normal", cwd=cwd))


def describe(sha: str, cwd=None) -> str:
    return git("log", "-1", "--format=%h %s", sha, cwd=cwd)


def worktree_add(sha: str, cwd=None, prefix: str = "vexgate-") -> Path:
    """A detached worktree of `sha` under /tmp (the checkout's own branches, index and
    working tree are untouched)."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{sha[:10]}-"))
    path.rmdir()
    git("worktree", "add", "--detach", "--quiet", str(path), sha, cwd=cwd)
    return path


def worktree_remove(path: Path, cwd=None) -> None:
    git("worktree", "remove", "--force", str(path), cwd=cwd, check=False)
    git("worktree", "prune", cwd=cwd, check=False)


# ----------------------------------------------------------------------------- trailers
def parse_trailers(message: str) -> list:
    """(key, value) trailers of one commit message: the lines of its last paragraph, if
    every non-continuation line there has the form `Key: value` (git's rule, simplified:
    continuation lines start with whitespace and extend the previous value)."""
    paras = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if len(paras) < 2:          # the subject alone is never a trailer block
        return []
    out: list = []
    for line in paras[-1].splitlines():
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], (out[-1][1] + " " + line.strip()).strip())
            continue
        m = _TRAILER_LINE.match(line)
        if not m:
            return []
        out.append((m.group(1), m.group(2)))
    return out


def accepted_reasons(message: str, key: str = TRAILER) -> list:
    return [v for k, v in parse_trailers(message) if k.lower() == key.lower() and v]


def accepted_regressions(base: str, head: str = "HEAD", cwd=None) -> list:
    """[{commit, subject, reason}] for each Perf-Regression-Accepted trailer in base..head
    (parsed by git itself: %(trailers:key=...))."""
    fmt = f"%H%x1f%s%x1f%(trailers:key={TRAILER},valueonly,separator=%x1d)%x1e"
    text = git("log", f"--format={fmt}", f"{base}..{head}", cwd=cwd)
    out = []
    for rec in text.split("\x1e"):
        rec = rec.strip("\n")
        if not rec.strip():
            continue
        sha, subject, values = (rec.split("\x1f") + ["", ""])[:3]
        for v in values.split("\x1d"):
            v = " ".join(v.split())
            if v:
                out.append({"commit": sha.strip(), "subject": subject, "reason": v})
    return out
