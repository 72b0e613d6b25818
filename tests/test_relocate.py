"""txpipe.core.relocate: path maps, where a recorded input is now, and content comparison."""

from __future__ import annotations

import os

import pytest

from txpipe.core.fingerprint import file_fingerprint
from txpipe.core.relocate import (
    apply_path_map, check_input, locate, map_params, params_match_but_paths, parse_path_map, path_pairs,
)
from txpipe.errors import ConfigurationError


def test_path_map_longest_prefix_at_a_folder_boundary():
    m = parse_path_map(["/mnt/nas=/shared", "/mnt/nas/retina=/fast/retina"])
    assert apply_path_map("/mnt/nas/x/a.cmcr", m) == "/shared/x/a.cmcr"
    assert apply_path_map("/mnt/nas/retina/a.cmcr", m) == "/fast/retina/a.cmcr"
    assert apply_path_map("/mnt/nas", m) == "/shared"
    assert apply_path_map("/mnt/nasty/a", m) == "/mnt/nasty/a"  # not a folder boundary
    assert parse_path_map(m) == m and parse_path_map({"/a": "/b"}) == (("/a", "/b"),)


@pytest.mark.parametrize("bad", ["/a", "=/b", "/a="])
def test_bad_path_map(bad):
    with pytest.raises(ConfigurationError, match="OLD=NEW"):
        parse_path_map([bad])


def test_params_compared_without_paths():
    a = {"cmcr_path": "/mnt/a/R.cmcr", "cover_range": {"__tuple__": [-60, 0]}, "name": "set_6"}
    b = {"cmcr_path": "/shared/a/R.cmcr", "cover_range": {"__tuple__": [-60, 0]}, "name": "set_6"}
    assert params_match_but_paths(a, b)
    assert not params_match_but_paths(a, {**b, "name": "set_7"})
    assert not params_match_but_paths(a, {**b, "cover_range": {"__tuple__": [-30, 0]}})
    assert path_pairs(a, b) == [("/mnt/a/R.cmcr", "/shared/a/R.cmcr")]
    assert map_params(a, parse_path_map(["/mnt=/shared"]))["cmcr_path"] == "/shared/a/R.cmcr"


def test_locate_follows_folder_and_file_parameters(tmp_path):
    new = tmp_path / "new" / "stimuli"
    new.mkdir(parents=True)
    # an input below a folder parameter, recorded through a resolved (symlinked) path
    pairs = [("/old/mount/stimuli", str(new))]
    assert locate("/real/disk/stimuli/a.json", pairs) == new / "a.json"
    assert locate("/old/mount/stimuli/sub/a.json", pairs) == new / "sub" / "a.json"
    # a file parameter whose recorded (resolved) path differs: matched by name
    f = tmp_path / "new" / "R.cmcr"
    assert locate("/real/R.cmcr", [("/old/R.cmcr", str(f))]) == f
    # no pair: the path map, else the recorded path
    assert locate("/x/y.csv", [], parse_path_map(["/x=/z"])) == type(f)("/z/y.csv")


def test_check_input_by_content_not_mtime(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(os.urandom(3 << 20))
    rec = file_fingerprint(a)
    b = tmp_path / "copy.bin"
    b.write_bytes(a.read_bytes())
    os.utime(b, ns=(1, 1))
    assert check_input(rec, b).status == "same"
    data = bytearray(a.read_bytes())
    data[-5] ^= 0xFF  # inside the sampled last MiB
    b.write_bytes(bytes(data))
    chk = check_input(rec, b)
    assert chk.status == "changed" and "sampled digest" in chk.reason
    b.write_bytes(b"short")
    assert "size" in check_input(rec, b).reason
    assert check_input(rec, tmp_path / "nope").status == "missing"
