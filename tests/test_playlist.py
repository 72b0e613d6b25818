"""Tests of txpipe.mcs.playlist: safe CSV parsing and the lab's playlist frame arithmetic."""

from __future__ import annotations

import pytest

from txpipe.errors import ConfigurationError, InputFileError, ParameterError
from txpipe.mcs.playlist import movie_key, plan_sections, read_movie_lengths, read_playlists

PLAYLIST = 'playlist_name,movie_names\ntest_playlist,"[\'movie_a.mov\', \'movie_b.mov\', \'movie_c.mov\']"\nsingle_movie,"[\'movie_a.mov\']"\n'
LENGTHS = "movie_name,movie_length\nmovie_a,600\nmovie_b,1200\nmovie_c,900\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "playlist.csv").write_text(PLAYLIST)
    (tmp_path / "movie_length.csv").write_text(LENGTHS)
    return tmp_path / "playlist.csv", tmp_path / "movie_length.csv"


class TestReadPlaylists:
    def test_lab_fixture(self, files):
        """The lab's fixture parses to movie keys without extensions."""
        assert read_playlists(files[0]) == {"test_playlist": ("movie_a", "movie_b", "movie_c"), "single_movie": ("movie_a",)}

    def test_no_eval(self, tmp_path):
        """A movie list that is code, not a literal, is rejected (never evaluated) with file and line."""
        p = tmp_path / "p.csv"
        p.write_text('playlist_name,movie_names\nok,"[\'a.mov\']"\nevil,"__import__(\'os\').getcwd()"\n')
        with pytest.raises(InputFileError, match=r"p\.csv:3: .*evil.*not a list literal") as ei:
            read_playlists(p)
        assert ei.value.path == str(p)

    def test_missing_file(self, tmp_path):
        """A missing CSV is an InputFileError naming it."""
        with pytest.raises(InputFileError, match="nope.csv: file not found"):
            read_playlists(tmp_path / "nope.csv")

    def test_bad_header(self, tmp_path):
        """A wrong header is reported with the line."""
        p = tmp_path / "p.csv"
        p.write_text("name,movies\na,\"['x.mov']\"\n")
        with pytest.raises(InputFileError, match=r"p\.csv:1: expected the header playlist_name,movie_names"):
            read_playlists(p)

    def test_not_a_list_of_str(self, tmp_path):
        """A literal that is not a non-empty list of names is rejected."""
        p = tmp_path / "p.csv"
        p.write_text('playlist_name,movie_names\na,"[1, 2]"\n')
        with pytest.raises(InputFileError, match="non-empty list of file names"):
            read_playlists(p)

    def test_conflicting_duplicate(self, tmp_path):
        """One playlist listed twice with different movies is an error."""
        p = tmp_path / "p.csv"
        p.write_text('playlist_name,movie_names\na,"[\'x.mov\']"\na,"[\'y.mov\']"\n')
        with pytest.raises(InputFileError, match="listed twice"):
            read_playlists(p)


class TestReadMovieLengths:
    def test_lab_fixture(self, files):
        """Lengths are ints in frames."""
        assert read_movie_lengths(files[1]) == {"movie_a": 600, "movie_b": 1200, "movie_c": 900}

    @pytest.mark.parametrize("val", ["0", "-5", "12.5", "abc", "True"])
    def test_bad_length(self, tmp_path, val):
        """A length that is not a positive whole number names the file, line and movie."""
        p = tmp_path / "l.csv"
        p.write_text(f"movie_name,movie_length\nm,{val}\n")
        with pytest.raises(InputFileError, match=r"l\.csv:2: movie_length of 'm'"):
            read_movie_lengths(p)

    def test_extra_column(self, tmp_path):
        """A row with a third value is malformed."""
        p = tmp_path / "l.csv"
        p.write_text("movie_name,movie_length\nm,10,11\n")
        with pytest.raises(InputFileError, match="expected 2 columns"):
            read_movie_lengths(p)


class TestMovieKey:
    def test_strips_last_extension_only(self):
        """Only the last extension is stripped (the lab cut at the first dot)."""
        assert movie_key("a.mov") == "a" and movie_key("a.v2.mov") == "a.v2" and movie_key(r"C:\m\b.avi") == "b"


class TestPlanSections:
    def test_lab_worked_example(self):
        """The lab's worked example (pad 180, pre 60, post 120) is reproduced exactly."""
        plan, skipped = plan_sections(("movie_a", "movie_b", "movie_c"), {"movie_a": 600, "movie_b": 1200, "movie_c": 900})
        assert [(p.start_frame, p.end_frame) for p in plan] == [(120, 901), (1081, 2462), (2642, 3723)]
        assert [p.block_start_frame for p in plan] == [0, 961, 2522] and skipped == []

    def test_repeats_keep_every_occurrence(self):
        """repeats repeats the whole playlist; each occurrence gets its own section."""
        plan, _ = plan_sections(("a",), {"a": 100}, repeats=3)
        assert [p.content_start_frame for p in plan] == [180, 180 + 461, 180 + 2 * 461]

    def test_missing_movie_is_an_error(self):
        """A movie without a length is a ConfigurationError listing every missing one."""
        with pytest.raises(ConfigurationError, match=r"\['b', 'c'\]"):
            plan_sections(("a", "b", "c"), {"a": 10})

    def test_lenient_skips_the_rest(self):
        """Lenient mode skips the missing movie and every later one (their offsets are unknown)."""
        plan, skipped = plan_sections(("a", "b", "a"), {"a": 10}, lenient=True)
        assert [p.movie for p in plan] == ["a"] and skipped == ["b", "a"]

    @pytest.mark.parametrize("kw", [{"repeats": 0}, {"pad_frame": -1}, {"pre_margin_frame_num": 200}, {"post_margin_frame_num": 1.5}])
    def test_bad_params(self, kw):
        """Out-of-range frame parameters are ParameterErrors."""
        with pytest.raises(ParameterError):
            plan_sections(("a",), {"a": 10}, **kw)
