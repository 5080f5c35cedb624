"""Label steadiness of the stream pipeline: label switches per second on a video, and the lag
after a constructed change of expression, per smoothing/hold setting (README "Steady labels").

    python tools/steady_labels.py ../shared/samples/test.mp4 --model fer7-nano

The model runs once over the video with no averaging (each frame's raw probabilities of the
largest face); each setting then filters that same sequence, as `run` does per track. The
change: the video's steady second half (frames 40 on) followed by the same frames with two
classes' columns swapped (a clear change with the video's own noise), and by the same frames
with a third class made 1.5 times as likely as the first (a slight change). Lag: frames from
the splice until the label is the new class.
"""

from __future__ import annotations

import argparse

import numpy as np

from edge_runtime.recognizer import EmotionRecognizer, RecognizerOptions
from edge_runtime.tracking import NO_HOLD, Hold, LabelFilter, Track

SETTINGS: list[tuple[str, float | None, Hold | None]] = [
    ("raw (--smoothing off --hold off)", None, NO_HOLD),
    ("before: EMA of probabilities 0.5", 0.5, None),
    ("log-probability EMA 0.5, no hold", 0.5, NO_HOLD),
    ("default: 0.5, hold 1.0,3,12", 0.5, Hold(1.0, 3, 12)),
    ("0.5, hold 0.75,3,12", 0.5, Hold(0.75, 3, 12)),
    ("0.4, hold 1.0,3,12", 0.4, Hold(1.0, 3, 12)),
]


def raw_sequence(model: str, video: str) -> tuple[np.ndarray, tuple[str, ...], float]:
    """Each frame's raw probabilities of its largest face (NaN where none), labels, fps."""
    opts = RecognizerOptions(smoothing=None, hold=NO_HOLD)
    rec = EmotionRecognizer(model, options=opts)
    stream = rec.stream(video)
    seq = []
    for r in stream:
        f = max(r.faces, key=lambda f: f.box[2] * f.box[3]) if r.faces else None
        seq.append([np.nan] * len(rec.labels) if f is None else list(f.raw_probs.values()))
    fps = stream.source.fps or 25.0
    return np.array(seq), rec.labels, float(fps)


def labels_of(seq: np.ndarray, alpha: float | None, hold: Hold | None) -> list[int]:
    """The label per frame; hold None: the former filter (EMA of probabilities, argmax)."""
    t = Track(id=1, box=np.zeros(4, np.float32))
    f = LabelFilter(alpha, hold or NO_HOLD)
    out, ema = [], None
    for p in seq:
        if np.isnan(p).any():
            continue
        if hold is None:
            ema = p if ema is None else alpha * p + (1 - alpha) * ema
            out.append(int(np.argmax(ema)))
        else:
            f.update(t, p)
            out.append(t.label)
    return out


def switches(labels: list[int]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:], strict=False))


def lag(before: np.ndarray, after: np.ndarray, new: int, alpha, hold) -> int | None:
    got = labels_of(np.concatenate([before, after]), alpha, hold)[len(before) :]
    return next((i + 1 for i, v in enumerate(got) if v == new), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video")
    ap.add_argument("--model", default="fer7-nano")
    a = ap.parse_args()
    seq, labels, fps = raw_sequence(a.model, a.video)
    tail = seq[40:][~np.isnan(seq[40:]).any(axis=1)]
    top = int(np.argmax(np.nanmean(tail, axis=0)))
    other = int(np.argsort(np.nanmean(tail, axis=0))[-2])
    third = next(i for i in np.argsort(np.nanmean(tail, axis=0))[::-1] if i not in (top, other))
    swapped = tail.copy()
    swapped[:, [top, other]] = swapped[:, [other, top]]
    slight = tail.copy()
    slight[:, third], slight[:, top] = tail[:, top] * 0.6, tail[:, top] * 0.4
    seconds = len(seq) / fps
    print(
        f"{a.model} on {a.video}: {len(seq)} frames at {fps:.0f} fps ({seconds:.1f} s); "
        f"change: {labels[top]} <-> {labels[other]} (clear), {labels[top]} -> {labels[third]} "
        "(slight)\n"
    )
    print("| setting | switches | per second | clear change lag | slight change lag |")
    print("|---|---|---|---|---|")
    for name, alpha, hold in SETTINGS:
        n = switches(labels_of(seq, alpha, hold))
        clear = [lag(tail, swapped, other, alpha, hold), lag(swapped, tail, top, alpha, hold)]
        weak = lag(tail, slight, third, alpha, hold)

        def frames(v: int | None) -> str:
            return "never" if v is None else f"{v} ({v / fps:.2f} s)"

        worst = None if None in clear else max(clear)
        print(f"| {name} | {n} | {n / seconds:.2f} | {frames(worst)} | {frames(weak)} |")


if __name__ == "__main__":
    main()
