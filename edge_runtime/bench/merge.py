"""Contributed results (`benchmarks/results/<device>.json`, each a results.json of
`edge-fer bench --out`) merged into one Markdown table per kind."""

from __future__ import annotations

import json
from pathlib import Path

from edge_runtime.bench.report import fmt_ms, pct, ratio, row_order, table, tracking_gains


def load_results(folder: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    """(device name from the file name, results) for each readable file; one problem line
    for each file that is not a bench results file."""
    entries, problems = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            obj = json.loads(path.read_text())
            if not isinstance(obj, dict) or not isinstance(obj.get("rows"), list):
                raise ValueError("no 'rows' list")
            if not all(isinstance(r, dict) and "kind" in r and "model" in r for r in obj["rows"]):
                raise ValueError("rows without 'kind' and 'model'")
        except (OSError, ValueError) as e:
            problems.append(f"{path}: not an edge-fer bench results file ({e}); skipped")
            continue
        entries.append((path.stem, obj))
    return entries, problems


def merged_markdown(entries: list[tuple[str, dict]]) -> str:
    """Devices, latency and video tables over all contributed files."""
    devices, lat, video = [], [], []
    for device, obj in entries:
        sysb = obj.get("system", {})
        cpu = sysb.get("cpu", {})
        devices.append(
            {
                "device": device,
                "cpu": cpu.get("model", "?"),
                "cores": cpu.get("logical_cores"),
                "flags": ", ".join(cpu.get("flags", [])) or "-",
                "os": sysb.get("os", "?"),
                "ort": sysb.get("versions", {}).get("onnxruntime", "?"),
                "date": sysb.get("date_utc", "?"),
            }
        )
        for r in obj["rows"]:
            (lat if r["kind"] == "latency" else video).append({**r, "device": device})
    lat.sort(key=lambda r: (r["device"], *row_order(r)))
    out = [
        "## Devices",
        "",
        *table(
            devices,
            [
                ("device", "device"),
                ("CPU", "cpu"),
                ("cores", "cores"),
                ("flags", "flags"),
                ("OS", "os"),
                ("onnxruntime", "ort"),
                ("date", "date"),
            ],
        ),
        "",
        "## Latency and accuracy",
        "",
        *table(
            lat,
            [
                ("device", "device"),
                ("model", "model"),
                ("format", "format"),
                ("threads", "threads"),
                ("batch", "batch"),
                ("p50 ms", lambda r: fmt_ms(r.get("p50_ms"))),
                ("p99 ms", lambda r: fmt_ms(r.get("p99_ms"))),
                ("faces/s", lambda r: f"{r.get('throughput', 0):,.0f}"),
                ("speed-up vs fp32", lambda r: ratio(r.get("speedup_vs_fp32"))),
                ("accuracy", lambda r: pct(r.get("accuracy"))),
            ],
        ),
    ]
    if video:
        out += [
            "",
            "## Video pipeline",
            "",
            *table(
                video,
                [
                    ("device", "device"),
                    ("model", "model"),
                    ("format", "format"),
                    ("threads", "threads"),
                    ("setting", "setting"),
                    ("fps", lambda r: f"{r.get('fps', 0):.1f}"),
                    ("detect ms", lambda r: fmt_ms(r.get("stage_ms", {}).get("detect"))),
                    ("infer ms", lambda r: fmt_ms(r.get("stage_ms", {}).get("infer"))),
                ],
            ),
        ]
        out.append("")
        for device in dict.fromkeys(r["device"] for r in video):
            out += [
                f"{line[:2]}{device}, {line[2:]}"
                for line in tracking_gains([r for r in video if r["device"] == device])
            ]
    return "\n".join(out) + "\n"
