"""/static/ stays strictly under --root, symlinks included, on every build.

The same table runs against openat2(RESOLVE_BENEATH) (the Linux builds) and
against the user-space walk of src/server/platform.c (`make PORTABLE=1`, which
FreeBSD and macOS use): both must give exactly these statuses. The paths reach
the open unchanged (no ".." segment, which the lexical check answers itself),
so the symlinks are the open's to judge.
"""
import os

import pytest

SECRET = b"outside-secret\n"


@pytest.fixture
def tree(tmp_path):
    """tmp/www is the root; tmp/outside.txt and tmp/outdir/ must never be served."""
    root = tmp_path / "www"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "index.html").write_bytes(b"index\n")
    (root / "sub" / "page.txt").write_bytes(b"page\n")
    (root / "sub" / "deep" / "leaf.txt").write_bytes(b"leaf\n")
    (tmp_path / "outside.txt").write_bytes(SECRET)
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "secret.txt").write_bytes(SECRET)
    links = {
        # inside the root: followed, as RESOLVE_BENEATH does
        "rel-file": "index.html",
        "sub/up-file": "../index.html",           # ".." that stays inside
        "sub/up-dir": "..",                       # a directory link to the root itself
        "dir-link": "sub",                        # a symlinked directory
        "sub/deep/chain": "../../chain2",         # a chain of two links
        "chain2": "sub/deep/leaf.txt",
        # leaving the root: refused (403), whatever comes back in later
        "abs-file": str(tmp_path / "outside.txt"),
        "abs-dir": str(tmp_path / "outdir"),
        "abs-inside": str(root / "index.html"),   # absolute, even to a file inside
        "rel-escape": "../outside.txt",
        "rel-escape-dir": "../outdir",
        "sub/out-and-in": "../../www/index.html", # leaves, then re-enters
        "sub/deep/far": "../../../outside.txt",
        "to-escape": "rel-escape",                # a chain whose second link escapes
        "loop-a": "loop-b",                       # a loop: ELOOP, refused
        "loop-b": "loop-a",
        "dangling": "no-such-file",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    return root


@pytest.mark.parametrize("path, status, body", [
    ("index.html", 200, b"index\n"),
    ("rel-file", 200, b"index\n"),
    ("sub/up-file", 200, b"index\n"),
    ("sub/up-dir/index.html", 200, b"index\n"),
    ("sub/up-dir/sub/up-dir/sub/page.txt", 200, b"page\n"),
    ("dir-link/page.txt", 200, b"page\n"),
    ("dir-link/deep/leaf.txt", 200, b"leaf\n"),
    ("sub/deep/chain", 200, b"leaf\n"),
    ("abs-file", 403, None),
    ("abs-dir/secret.txt", 403, None),
    ("abs-inside", 403, None),
    ("rel-escape", 403, None),
    ("rel-escape-dir/secret.txt", 403, None),
    ("sub/out-and-in", 403, None),
    ("sub/deep/far", 403, None),
    ("dir-link/deep/far", 403, None),
    ("to-escape", 403, None),
    ("loop-a", 403, None),
    ("dangling", 404, None),
    ("dir-link", 404, None),                      # a directory, even through a link
    ("sub/page.txt/x", 404, None),                # a file used as a directory
    ("missing/index.html", 404, None),
])
def test_static_root_guarantee(start_server, tree, path, status, body):
    srv = start_server("--threads", "1", "--root", str(tree))
    r = srv.get("/static/" + path)
    assert r.status == status, (path, r.status, r.body[:80])
    assert SECRET not in r.body
    if body is not None:
        assert r.body == body


def test_static_root_symlink_swapped_while_serving(start_server, tree, tmp_path):
    """A link re-pointed outside between requests is refused from then on."""
    srv = start_server("--threads", "1", "--root", str(tree))
    link = tree / "moving"
    os.symlink("index.html", link)
    assert srv.get("/static/moving").status == 200
    os.unlink(link)
    os.symlink(str(tmp_path / "outside.txt"), link)
    r = srv.get("/static/moving")
    assert r.status == 403 and SECRET not in r.body
    os.unlink(link)
    os.symlink("../outdir", link)
    r = srv.get("/static/moving/secret.txt")
    assert r.status == 403 and SECRET not in r.body


def test_root_may_itself_be_a_symlink(start_server, tree, tmp_path):
    """--root is resolved once at start; only what is beneath it is judged."""
    alias = tmp_path / "alias"
    os.symlink(tree, alias)
    srv = start_server("--threads", "1", "--root", str(alias))
    assert srv.get("/static/index.html").body == b"index\n"
    assert srv.get("/static/rel-escape").status == 403
