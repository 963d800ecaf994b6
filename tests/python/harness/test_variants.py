"""Target variants (scripts/vexbench/variants.py): the same server with one feature on,
measured in the same run, and the cost table made from the two."""
import pytest

from vexbench import peers, variants
from vexbench.profiles import ProfileError, make_plan


def _profile_dir(tmp_path, set_text):
    (tmp_path / "plaintext.toml").write_text('path = "/"\nconnections = [10]\n')
    (tmp_path / "sets.toml").write_text(set_text)
    return tmp_path


def test_a_set_names_its_variants(tmp_path):
    d = _profile_dir(tmp_path, '[s]\nprofiles = ["plaintext"]\nvariants = ["accesslog"]\n')
    plan = make_plan("s", directory=d)
    assert plan.variants == ("accesslog",)
    assert plan.to_dict()["variants"] == ["accesslog"]
    assert make_plan("plaintext", directory=d).variants == ()


def test_unknown_variant_is_an_error(tmp_path):
    d = _profile_dir(tmp_path, '[s]\nprofiles = ["plaintext"]\nvariants = ["nope"]\n')
    with pytest.raises(ProfileError, match="unknown variant 'nope'"):
        make_plan("s", directory=d)


def test_variant_arguments_and_names(tmp_path):
    v = variants.get("accesslog")
    assert variants.server_args(v, "epoll+accesslog", tmp_path) == \
        ["--access-log", f"{tmp_path}/epoll+accesslog.access.log"]
    assert variants.split("io_uring+accesslog") == ("io_uring", "accesslog")
    assert variants.split("nginx") == ("nginx", None)
    with pytest.raises(variants.VariantError):
        variants.get("gzip-everything")


def test_nginx_variant_config_logs_buffered_json(tmp_path):
    extra = variants.nginx_http(variants.get("accesslog"), tmp_path)
    conf = peers.nginx_config(8080, tmp_path, tmp_path, 100, None, None, extra)
    assert "access_log off;" not in conf
    assert f"access_log {tmp_path}/nginx.access.log vexjson buffer=64k flush=1s;" in conf
    assert "log_format vexjson escape=json '{\"time\":\"$time_iso8601\"" in conf
    assert "access_log off;" in peers.nginx_config(8080, tmp_path, tmp_path, 100, None)


def test_h2o_has_no_variant():
    with pytest.raises(peers.PeerUnavailable, match="no accesslog variant"):
        peers.make_peer("h2o", {"/"}, variant="accesslog")


def _summary(case, target, cpu):
    return {"case": case, "target": target, "metrics": {"cpu_us_per_req": {"median": cpu}}}


def test_cost_rows_pair_each_variant_with_its_base():
    doc = {"summaries": [_summary("plaintext@c100", "epoll", 4.0),
                         _summary("plaintext@c100", "epoll+accesslog", 4.2),
                         _summary("plaintext@c100", "nginx", 8.0),
                         _summary("plaintext@c100", "nginx+accesslog", 9.0),
                         _summary("plaintext@c100", "poll+accesslog", 5.0)]}  # no base: left out
    rows = variants.cost_rows(doc)
    assert [(r[1], r[2]) for r in rows] == [("epoll", "accesslog"), ("nginx", "accesslog")]
    assert rows[0][5] == pytest.approx(1.05) and rows[1][5] == pytest.approx(1.125)
    lines = variants.cost_lines(doc)
    assert "| plaintext@c100 | epoll +accesslog | 4.00 | 4.20 | 1.050× |" in lines
    assert variants.cost_lines({"summaries": []}) == []


def test_null_log_variant_writes_the_same_lines_to_dev_null(tmp_path):
    v = variants.get("accesslog-null")
    assert variants.server_args(v, "epoll+accesslog-null", tmp_path) == \
        ["--access-log", "/dev/null"]
    assert variants.split("epoll+accesslog-null") == ("epoll", "accesslog-null")
    extra = variants.nginx_http(v, tmp_path)
    assert "access_log /dev/null vexjson buffer=64k flush=1s;" in extra
    assert str(tmp_path) not in extra


def test_a_variant_nginx_has_not_is_skipped_with_its_reason():
    assert variants.server_args(variants.get("accesslog-64k"), "epoll+accesslog-64k", "/d") == \
        ["--access-log", "/d/epoll+accesslog-64k.access.log", "--log-buffer", "65536"]
    with pytest.raises(peers.PeerUnavailable, match="nginx has no accesslog-64k variant"):
        peers.make_peer("nginx", {"/"}, variant="accesslog-64k")
