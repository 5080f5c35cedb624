"""Cards and results name no absolute path of the machine that made them."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.portable import _ABSOLUTE, portable

REPO = Path(__file__).resolve().parents[1]
SYSTEM = ("/sys/", "/proc/", "/dev/", "/etc/", "/usr/")


def test_paths_in_the_same_tree_become_relative_and_system_paths_stay():
    root = "/srv/me/edge-fer"
    cmd = (
        "edge-fer export /srv/me/runs/a/model.keras --calibration "
        "/srv/me/shared/fer2013.zip --out /srv/me/edge-fer/models --kfold=/srv/me/runs/cv"
    )
    assert portable(cmd, root) == (
        "edge-fer export ../runs/a/model.keras --calibration "
        "../shared/fer2013.zip --out models --kfold=../runs/cv"
    )
    card = {"model": "/srv/me/runs/a/model.keras", "n": 3, "members": ["/srv/x", "runs/b"]}
    assert portable(card, root) == {
        "model": "../runs/a/model.keras",
        "n": 3,
        "members": ["../../x", "runs/b"],
    }
    for kept in (
        "see /sys/devices/system/cpu/present",
        "https://example.org/a/b",
        "train/<emotion>/*.jpg",
        "ratio 1/2",
        "GET /healthz",
    ):
        assert portable(kept, root) == kept


def test_no_committed_card_or_result_names_an_absolute_path():
    found = []
    for d in ("edge_runtime/models", "benchmarks"):
        for p in sorted((REPO / d).rglob("*")):
            if p.suffix in (".json", ".md", ".csv"):
                hits = [h for h in _ABSOLUTE.findall(p.read_text()) if not h.startswith(SYSTEM)]
                found += [f"{p.relative_to(REPO)}: {h}" for h in hits]
    assert not found, "\n".join(found[:10])
