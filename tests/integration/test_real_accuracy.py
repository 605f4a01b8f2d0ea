"""Accuracy on real recordings from other labs (../shared/data), guarding the figures in
docs/accuracy.md against regressions.

The floors are the figures measured when the current detector landed, less a small margin
(so a change that loses steps on real data fails here even if the simulator still passes).
They are not the targets: issue 10 asks 99 % on voisard_walking, the detector reaches about
90 % (docs/accuracy.md says where it falls short, and what limits any detector there).
Raise them as detection improves.
Marked slow: ``-m "not slow"`` skips them locally; CI runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorhub.evaluation import evaluate, read_truth
from sensorhub.events import FootStrike
from sensorhub.pipeline.session import process_session
from sensorhub.recording import SessionReader
from tests.conftest import SHARED_DATA
from tools import accuracy, datasets

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voisard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA} (../shared/data beside the repo)")
    return accuracy.voisard_report(tmp_path_factory.mktemp("voisard"), SHARED_DATA)


def test_voisard_held_out_subjects(voisard: dict[str, dict[str, object]]) -> None:
    """Subjects 9-12 were never used to tune the settings."""
    held = voisard["held_out"]
    ic, to = held["ic"], held["to"]
    assert isinstance(ic, dict) and isinstance(to, dict)
    # measured with the closing-step rule: IC 89.9 % / 90.2 %, TO 88.0 % / 90.7 %, worst
    # subject 85.4 % (before it: IC 86.7 % / 91.3 %, TO 86.7 % / 92.6 %, worst 78.8 %)
    assert ic["recall"] >= 0.87 and ic["precision"] >= 0.88
    assert to["recall"] >= 0.85 and to["precision"] >= 0.88
    # these two meet the targets
    assert to["median_abs_ms"] <= 10.0
    contact = held["contact_time_median_debiased_ms"]
    assert isinstance(contact, float) and abs(contact) <= 20.0
    per = held["ic_recall_per_subject"]
    assert isinstance(per, dict) and min(per.values()) >= 0.80


def test_voisard_every_subject_is_found(voisard: dict[str, dict[str, object]]) -> None:
    """The old detector locked into the wrong phase for whole recordings (3-9 % recall);
    no subject may fall back to that."""
    for fold in ("tuned", "held_out"):
        per = voisard[fold]["ic_recall_per_subject"]
        assert isinstance(per, dict) and min(per.values()) >= 0.77, (fold, per)


def test_voisard_no_recording_locks_into_the_wrong_phase(
    voisard: dict[str, dict[str, object]],
) -> None:
    """Issue 10: a start on push-off transients (every trial starts from standing) may cost
    a few strides, never the recording: after the third stride of each foot, hardly a
    contact is out of phase (> 150 ms from every reference contact)."""
    for fold in ("tuned", "held_out"):
        g = voisard[fold]
        assert g["out_of_phase_max_per_trial"] <= 3, fold
        found = g["ic"]["matched"]  # type: ignore[index]
        assert g["out_of_phase_after_3_strides"] <= 0.03 * found, fold  # type: ignore[operator]


def test_gaitmap_walking_against_motion_capture(shared_data: Path, tmp_path: Path) -> None:
    gm = datasets.gaitmap(shared_data, tmp_path)
    assert gm.truth is not None
    truth = read_truth(gm.truth)
    span = (min(r.t_s for r in truth) - 0.1, max(r.t_s for r in truth) + 0.1)
    rep = evaluate(process_session(SessionReader(gm.session)), truth, span=span)
    assert rep["ic"]["debiased"]["recall"] >= 0.98
    assert rep["ic"]["debiased"]["precision"] >= 0.98
    assert rep["to"]["debiased"]["recall"] >= 0.95


def test_adeptdata_running_cadence(shared_data: Path, tmp_path: Path) -> None:
    """Accelerometer only, 25 min outdoor run: the running windows' cadence against an
    independent spectral estimate."""
    ad = datasets.adeptdata(shared_data, tmp_path)
    events = process_session(SessionReader(ad.session))
    # one ankle, 25 minutes of running with walking breaks: well over 0.6 strides/s
    assert sum(isinstance(e, FootStrike) for e in events) > 0.6 * 1500
    rep = accuracy.adept_cadence(events, ad.session)
    assert rep["running_windows"] >= 25
    assert rep["median_abs_vs_reference_spm"] <= 1.0
