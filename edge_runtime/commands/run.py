"""`edge-fer run`: a camera, a video or the demo, frame by frame, until stopped."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import typer

from edge_runtime.classifier import CAMERA_MODEL, PRECISIONS
from edge_runtime.commands.common import UserError, info, warn
from edge_runtime.commands.recognizer_setup import (
    DETECTOR_HELP,
    DETECTOR_MODEL_HELP,
    HOLD_HELP,
    MIN_CONFIDENCE_HELP,
    MIN_FACE_SCORE_HELP,
    MIN_FACE_SIZE_HELP,
    MODEL_HELP,
    PRECISION_HELP,
    PROVIDER_HELP,
    PROVIDER_OPTION_HELP,
    THREADS_HELP,
    build_recognizer,
    parse_hold,
    parse_smoothing,
    provider_choice,
)
from edge_runtime.detect import DEFAULT_DETECTOR
from edge_runtime.native_logs import VERBOSE_ENV, quiet_opencv
from edge_runtime.outputs import (
    VIDEO_CODECS,
    CsvTimelineWriter,
    JsonLinesWriter,
    OutputError,
    TextWriter,
    VideoSaver,
    Writer,
)
from edge_runtime.providers import Provider
from edge_runtime.recognizer import FrameStream, RecognizerOptions
from edge_runtime.rotation import Rotation, parse_duration, parse_size
from edge_runtime.serve import AddressError, LiveServer, is_loopback, parse_address
from edge_runtime.stream_sources import (
    DemoSource,
    FrameSource,
    LoopSource,
    SourceError,
    camera_source,
    video_source,
)
from edge_runtime.systemd import Watchdog, notify


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT/SIGTERM set `stop` (the run ends cleanly after the current frame); a second
    signal restores the default behaviour."""

    def handler(signum, frame):
        if stop.is_set():
            signal.signal(
                signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler
            )
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _source(
    camera: str | None,
    video: str | None,
    demo: bool,
    width: int | None,
    height: int | None,
    fps: float | None,
    loop: bool = False,
    live: bool | None = None,
    pace: bool = True,
) -> FrameSource:
    chosen = [n for n, v in (("--camera", camera), ("--video", video), ("--demo", demo)) if v]
    if len(chosen) != 1:
        raise UserError(
            "choose one source: --camera N|/dev/videoN|rpicam|picamera2, --video PATH_OR_URL or "
            "--demo" + (f" (got {' and '.join(chosen)})" if chosen else "")
        )
    if live is not None and (video is None or "://" not in video):
        raise UserError(
            "--live/--no-live applies to a --video URL only (cameras are live, "
            "files and the demo are not)"
        )
    try:
        if camera is not None:
            return camera_source(camera, width, height, fps)
        if video is not None:
            source = video_source(video, live)
            return LoopSource(source, pace) if loop and not source.live else source
        return LoopSource(DemoSource(), pace) if loop else DemoSource()
    except SourceError as e:
        raise UserError(str(e), 2) from None


def run(
    camera: str | None = typer.Option(
        None,
        "--camera",
        help="Camera index or device path; a Raspberry Pi camera module: rpicam[:N] (through "
        "rpicam-vid) or picamera2[:N] (the Picamera2 library).",
    ),
    video: str | None = typer.Option(None, "--video", help="Video file or stream URL."),
    live: bool | None = typer.Option(
        None,
        "--live/--no-live",
        help="Treat the --video URL as a live stream: drop stale frames, reopen it when it "
        "stops (default: live for rtsp/rtmp/udp/tcp/srt; an http(s) URL is live when it "
        "has no length, e.g. an MJPEG camera, and read once when it has one).",
    ),
    demo: bool = typer.Option(False, "--demo", help="A simulated camera over a sample photo."),
    width: int | None = typer.Option(None, "--width", help="Camera frame width to ask for."),
    height: int | None = typer.Option(None, "--height", help="Camera frame height to ask for."),
    fps: float | None = typer.Option(None, "--fps", help="Camera frame rate to ask for."),
    model: str = typer.Option(
        CAMERA_MODEL,
        "--model",
        "-m",
        help=MODEL_HELP.format(
            f"{CAMERA_MODEL}, the nano tier, fast on a Pi; fer7 is 0.8 points more accurate; "
            "happy_sad-nano answers happy vs sad"
        ),
    ),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", "-d", help=DETECTOR_HELP),
    detector_model: Path | None = typer.Option(None, "--detector-model", help=DETECTOR_MODEL_HELP),
    threads: int = typer.Option(1, "--threads", help=THREADS_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    provider: str = typer.Option("auto", "--provider", help=PROVIDER_HELP),
    provider_option: list[str] = typer.Option([], "--provider-option", help=PROVIDER_OPTION_HELP),
    min_face_score: float = typer.Option(
        0.0, "--min-face-score", min=0.0, max=1.0, help=MIN_FACE_SCORE_HELP
    ),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", min=0.0, max=1.0, help=MIN_CONFIDENCE_HELP
    ),
    min_face_size: int = typer.Option(0, "--min-face-size", min=0, help=MIN_FACE_SIZE_HELP),
    detect_every: int = typer.Option(
        10, "--detect-every", help="Full-frame detection at least every N frames (1 = always)."
    ),
    detect_size: int = typer.Option(
        320, "--detect-size", help="Full-frame detection on a copy shrunk to this longer side."
    ),
    smoothing: str = typer.Option(
        "0.5",
        "--smoothing",
        help="Per-face moving average of the frames' log-probabilities: the newest frame's "
        "weight, or 'off'.",
    ),
    hold: str = typer.Option("1.0,3,12", "--hold", help=HOLD_HELP),
    max_frames: int | None = typer.Option(None, "--max-frames", help="Stop after N frames."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds."),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines per frame, then a summary."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write a per-frame CSV timeline."),
    save: Path | None = typer.Option(
        None,
        "--save",
        help="Write an annotated video: .mp4, .avi/.mkv (MJPG) or .webm (VP8, "
        "plays in browsers); .avi/.mkv/.webm stay playable if the run is killed.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    mqtt: str | None = typer.Option(
        None,
        "--mqtt",
        help="Publish to an MQTT broker: mqtt[s]://[user:password@]host[:port]/prefix. Each "
        "face's state when its label changes (prefix/DEVICE/face/ID), a summary every "
        "--mqtt-every seconds (prefix/DEVICE/summary), availability with a last will. Needs "
        "the mqtt extra (paho-mqtt).",
    ),
    mqtt_every: float = typer.Option(
        10.0, "--mqtt-every", min=0.1, help="Seconds between MQTT summaries."
    ),
    mqtt_discovery: bool = typer.Option(
        False,
        "--mqtt-discovery",
        help="Also publish Home Assistant MQTT discovery: a sensor per device.",
    ),
    mqtt_device: str | None = typer.Option(
        None, "--mqtt-device", help="The device's name in the topics (default: the host name)."
    ),
    rotate: str | None = typer.Option(
        None,
        "--rotate",
        metavar="DURATION",
        help="Write --csv and --save as segments NAME-YYYYMMDD-HHMMSS.ext, a new one every "
        "DURATION (e.g. 15m, 1h, 1d).",
    ),
    rotate_size: str | None = typer.Option(
        None,
        "--rotate-size",
        metavar="SIZE",
        help="... or once a segment reaches SIZE (e.g. 100M, 1G).",
    ),
    keep: int | None = typer.Option(
        None,
        "--keep",
        min=1,
        help="With --rotate/--rotate-size: keep this many segments of each output, deleting "
        "the oldest (default: all).",
    ),
    serve: str | None = typer.Option(
        None,
        "--serve",
        metavar="[HOST:]PORT",
        help="Live view in a browser, /healthz and /metrics on HOST:PORT (host default "
        "127.0.0.1; 0.0.0.0 for the whole network).",
    ),
    loop: bool = typer.Option(
        False,
        "--loop",
        help="Replay a video file (or the demo) "
        "from the start when it ends, at its own frame rate.",
    ),
    pace: bool = typer.Option(
        True,
        "--pace/--no-pace",
        help="With --loop: --no-pace replays "
        "as fast as frames are processed (benchmarks, soak tests).",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No per-frame lines: only events and the summary (for services and journald).",
    ),
) -> None:
    """Recognise expressions in a camera, video or the demo, frame by frame.

    Faces are tracked between detections (stable ids) and their probabilities smoothed.
    Ctrl-C or SIGTERM ends the run cleanly with a summary (exit code 0).
    """
    address, rotation, options, engine = checked_options(dict(locals()))
    quiet_opencv()
    source = _source(camera, video, demo, width, height, fps, loop, live, pace)
    rec = build_recognizer(
        model,
        detector,
        detector_model,
        threads,
        options,
        precision,
        engine,
    )
    stop = threading.Event()
    server = None if address is None else LiveServer(*address, rec.labels, log=info)
    watchdog = Watchdog()

    def event(message: str) -> None:
        # a source being reopened is alive, not hung, but only while the pipeline waits for
        # its frames: a pipeline stuck elsewhere (a blocked stdout) must not be kept alive
        if stream.waiting_for_frame:
            watchdog.ping()
        warn(message)

    stream = rec.stream(
        source,
        max_frames,
        duration,
        stop=stop,
        on_event=event if server is None else server.hub.counting(event),
    )
    stream.observers.append(watchdog.ping)
    on_terminal = sys.stdout.isatty() and not os.environ.get(VERBOSE_ENV)
    writers: list[Writer] = [
        JsonLinesWriter() if as_json else TextWriter(frames=not quiet, in_place=on_terminal)
    ]
    try:
        if csv_path is not None:
            writers.append(CsvTimelineWriter(csv_path, rec.labels, overwrite, rotation))
        if save is not None:
            writers.append(VideoSaver(save, None, overwrite, rotation))
        if mqtt is not None:
            from edge_runtime.mqtt import MqttPublisher

            writers.append(MqttPublisher(mqtt, rec.labels, mqtt_every, mqtt_discovery, mqtt_device))
    except OutputError as e:
        for w in writers:
            w.close()
        raise UserError(str(e)) from None
    for w in writers:
        if getattr(w, "note", None):
            info(f"edge-fer: {w.note}")
    with stop_on_signals(stop):
        try:
            stream.open()
            if server is not None:
                _start_server(server, stream)
        except (SourceError, UserError) as e:
            stream.close()
            for w in writers:
                w.close()
            if server is not None:
                server.close()
            raise e if isinstance(e, UserError) else UserError(str(e), 2) from None
        notify("READY=1")
        try:
            failed = _run_stream(stream, writers, save is not None)
        finally:
            notify("STOPPING=1")
            if server is not None:
                server.hub.end()
                server.close()
    if failed:
        raise typer.Exit(1)
    if stop.is_set():
        info("edge-fer: stopped by signal")


def checked_options(
    p: dict,
) -> tuple[tuple | None, Rotation | None, RecognizerOptions, Provider]:
    """`run`'s options (its parameters by name) checked without opening anything: the live
    view's address, the rotation, the recognizer's options and the execution provider, or a
    one-line UserError.
    `service install` checks a unit's options with this very code."""
    if p["detect_every"] < 1:
        raise UserError(f"--detect-every must be at least 1, got {p['detect_every']}")
    if p["max_frames"] is not None and p["max_frames"] < 1:
        raise UserError(f"--max-frames must be at least 1, got {p['max_frames']}")
    if p["duration"] is not None and not 0 < p["duration"] < math.inf:
        raise UserError(f"--duration must be a positive number of seconds, got {p['duration']}")
    if p["precision"] not in PRECISIONS:
        raise UserError(f"--precision {p['precision']}: choose {', '.join(PRECISIONS)}")
    if p["save"] is not None and Path(p["save"]).suffix.lower() not in VIDEO_CODECS:
        raise UserError(f"--save {p['save']}: save a stream as .mp4, .avi, .mkv or .webm")
    if p["mqtt"] is not None:
        from edge_runtime.mqtt import Broker

        try:
            Broker.parse(p["mqtt"])
        except ValueError as e:
            raise UserError(str(e)) from None
    engine = provider_choice(p["provider"], p["provider_option"])
    try:
        address = parse_address(p["serve"]) if p["serve"] is not None else None
    except AddressError as e:
        raise UserError(str(e)) from None
    rotation = _rotation(p["rotate"], p["rotate_size"], p["keep"])
    options = RecognizerOptions(
        detect_size=p["detect_size"],
        detect_every=p["detect_every"],
        smoothing=parse_smoothing(p["smoothing"]),
        hold=parse_hold(p["hold"]),
        min_face_score=p["min_face_score"],
        min_face_size=p["min_face_size"],
        min_confidence=p["min_confidence"],
    )
    return address, rotation, options, engine


def _rotation(every: str | None, size: str | None, keep: int | None) -> Rotation | None:
    try:
        every_s = parse_duration(every) if every is not None else None
    except ValueError as e:
        raise UserError(f"--rotate: {e}") from None
    try:
        max_bytes = parse_size(size) if size is not None else None
    except ValueError as e:
        raise UserError(f"--rotate-size: {e}") from None
    if keep is not None and every_s is None and max_bytes is None:
        raise UserError("--keep counts rotated segments: give --rotate or --rotate-size too")
    if every_s is None and max_bytes is None:
        return None
    return Rotation(every_s, max_bytes, keep)


def _start_server(server: LiveServer, stream: FrameStream) -> None:
    """Bind the live view (a one-line error if the address cannot be used) and announce it."""
    server.hub.attach(stream)
    stream.observers.append(server.hub)
    try:
        server.start()
    except OSError as e:
        raise UserError(f"--serve {server.host}:{server.port}: {e.strerror or e}", 2) from None
    info(f"edge-fer: live view at {server.url} (also /healthz, /metrics)")
    if not is_loopback(server.host):
        info(
            f"edge-fer: the live view listens on {server.host}: anyone who can reach this "
            "machine on that address can watch the camera"
        )


def _run_stream(stream: FrameStream, writers: list[Writer], saving: bool) -> bool:
    """Run the stream through the writers; True when an output failed (said on stderr)."""
    failed: str | bool = False
    for w in writers:
        if isinstance(w, VideoSaver):
            w.fps = stream.source.fps or w.fps
        stream.observers.append(w.frame)
    try:
        for _ in stream:
            pass
    except OutputError as e:
        warn(str(e))
        stream.stop.set()
        failed = str(e)
    finally:
        stream.close()
        summary = stream.summary()
        for w in writers:
            try:
                w.summary(summary)
            except OutputError as e:
                if str(e) != failed:  # the output that already failed: said once
                    warn(str(e))
                failed = failed or str(e)
            w.close()
    return bool(failed)
