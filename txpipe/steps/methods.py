"""
Session methods for the built-in steps (SPEC §2.2): ``s.load_recording(...)`` etc.

Each method applies the registered step through :meth:`PipelineSession.run` and returns the
session, so calls chain. The steps themselves live in this package, one module per step.
"""

from __future__ import annotations

from typing import Any


class StepMethods:
    """Mixin of :class:`~txpipe.core.session.PipelineSession`: one method per built-in step."""

    def run(self, fn: Any, /, **params: Any) -> Any:  # implemented by PipelineSession
        raise NotImplementedError

    def load_recording(self, cmcr_path: Any, cmtr_path: Any, dataset_id: str | None = None, **params: Any) -> Any:
        """Load a ``.cmcr`` + ``.cmtr`` pair (step 1; see
        :func:`txpipe.steps.load_recording.load_recording_step`). Returns the session."""
        from txpipe.steps.load_recording import load_recording_step, step_params

        return self.run(load_recording_step, **step_params(cmcr_path, cmtr_path, dataset_id, **params))

    def compute_eimage_sta(
        self,
        *,
        duration_s: float = 120.0,
        spike_limit: int = 10000,
        unit_ids: Any = None,
        window_range: tuple[int, int] = (-10, 40),
        cutoff_hz: float = 100.0,
        filter_order: int = 2,
        skip_highpass: bool = False,
        chunk_duration_s: float = 10.0,
    ) -> Any:
        """Electrical image of each unit from the raw sensor stream (step 1b; see
        :func:`txpipe.steps.compute_eimage_sta.compute_eimage_sta_step`). Returns the session."""
        from txpipe.steps.compute_eimage_sta import compute_eimage_sta_step, step_params

        return self.run(compute_eimage_sta_step, **step_params(
            duration_s, spike_limit, unit_ids, window_range, cutoff_hz, filter_order, skip_highpass, chunk_duration_s))

    def add_section_time(
        self,
        playlist_name: str,
        *,
        playlist_file: Any = None,
        movie_length_file: Any = None,
        repeats: int = 1,
        pad_frame: int = 180,
        pre_margin_frame_num: int = 60,
        post_margin_frame_num: int = 120,
        lenient: bool = False,
    ) -> Any:
        """Movie sections from the playlist (step 2; see
        :func:`txpipe.steps.add_section_time.add_section_time_step`). Returns the session."""
        from txpipe.steps.add_section_time import add_section_time_step, step_params

        return self.run(add_section_time_step, **step_params(
            playlist_name, playlist_file, movie_length_file, repeats=repeats, pad_frame=pad_frame,
            pre_margin_frame_num=pre_margin_frame_num, post_margin_frame_num=post_margin_frame_num, lenient=lenient))

    def add_section_time_analog(
        self,
        threshold: float,
        movie_name: str = "iprgc_test",
        plot_duration: float = 120.0,
        repeat: int | None = None,
        *,
        min_distance_s: float | None = None,
        after_last_frame: bool = False,
        lenient: bool = False,
    ) -> Any:
        """Sections from light-reference onsets (step 2b; see
        :func:`txpipe.steps.add_section_time_analog.add_section_time_analog_step`). Returns the session."""
        from txpipe.steps.add_section_time_analog import add_section_time_analog_step

        return self.run(add_section_time_analog_step, threshold=threshold, movie_name=movie_name, plot_duration=plot_duration,
                        repeat=repeat, min_distance_s=min_distance_s, after_last_frame=after_last_frame, lenient=lenient)

    def section_spike_times(
        self,
        pad_margin: tuple[float, float] = (0.0, 0.0),
        movie_names: list[str] | None = None,
        config_dir: Any = None,
        occurrence: int | str = 0,
    ) -> Any:
        """Spikes per trial of each sectioned movie (step 3; see
        :func:`txpipe.steps.section_spike_times.section_spike_times_step`). Returns the session."""
        from txpipe.steps.section_spike_times import section_spike_times_step, step_params

        return self.run(section_spike_times_step, **step_params(pad_margin, movie_names, config_dir, occurrence))

    def compute_sta(
        self,
        *,
        cover_range: tuple[int, int] = (-60, 0),
        stimuli_dir: Any = None,
        movie: str | None = None,
        trials: str = "first",
    ) -> Any:
        """Spike-triggered average of the dense-noise movie per unit (step 4; see
        :func:`txpipe.steps.compute_sta.compute_sta_step`). Returns the session."""
        from txpipe.steps.compute_sta import compute_sta_step, step_params

        return self.run(compute_sta_step, **step_params(cover_range, stimuli_dir, movie, trials))

    def extract_features(
        self,
        features: list[str] | tuple[str, ...] | None = None,
        *,
        params: dict[str, dict[str, Any]] | None = None,
        force: bool = False,
    ) -> Any:
        """Run registered feature extractors on every unit (step 5; see
        :func:`txpipe.steps.extract_features.extract_features_step`). Returns the session."""
        from txpipe.steps.extract_features import extract_features_step

        return self.run(
            extract_features_step, features=None if features is None else list(features), params=params, force=force
        )
