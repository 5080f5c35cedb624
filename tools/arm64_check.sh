#!/usr/bin/env bash
# Proof that edge-fer runs on a Raspberry Pi's OS: installs this checkout into an arm64 Debian
# bookworm root (the base of Raspberry Pi OS 64-bit) under qemu user emulation, and checks that
# every bundled model in every shipped precision answers as it does on this machine, emulating a
# Cortex-A72 (Pi 4: NEON, no int8 dot product) and a Cortex-A76 (Pi 5: dotprod). Timings under
# emulation mean nothing: none are taken.
#
# Needs root, `apt-get install qemu-user-static debootstrap binfmt-support`, ~1 GB of disk and
# network access to Debian's packages and PyPI. The root is kept in ARM64_BASE (default
# /var/tmp/edge-fer-arm64): a second run only reinstalls edge-fer (first run ~10 min on 2 cores).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BASE=${ARM64_BASE:-/var/tmp/edge-fer-arm64}
ROOT=$BASE/root
PY=${PYTHON:-python3}

fail() { echo "arm64-check: $*" >&2; exit 2; }
for tool in debootstrap qemu-aarch64-static update-binfmts; do
    command -v "$tool" >/dev/null || fail "needs $tool (apt-get install qemu-user-static debootstrap binfmt-support)"
done
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, bind mounts)"
PYTHONPATH="$REPO" "$PY" -c "import cv2, onnxruntime" 2>/dev/null \
    || fail "$PY cannot run edge-fer here (the x86 answers): activate the project's virtualenv or set PYTHON"
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || fail "cannot mount binfmt_misc"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || fail "qemu-aarch64 is not registered with binfmt_misc"

if [ ! -x "$ROOT/usr/bin/python3" ]; then
    mkdir -p "$BASE"
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$ROOT"
fi
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

# This checkout as a wheel (pure Python); pip inside the root brings the aarch64 dependencies.
WHEELS=$(mktemp -d)
CPUINFO=$(mktemp)
cleanup() {
    umount "$ROOT/proc/cpuinfo" 2>/dev/null || true
    umount "$ROOT/proc" 2>/dev/null || true
    rm -rf "$WHEELS" "$CPUINFO"
}
trap cleanup EXIT
"$PY" -m pip wheel -q --no-deps -w "$WHEELS" "$REPO"
rm -rf "$ROOT/opt/edge-fer"
mkdir -p "$ROOT/opt/edge-fer"
cp "$WHEELS"/*.whl "$REPO/tools/arm64_answers.py" "$ROOT/opt/edge-fer/"

# onnxruntime's cpuinfo crashes (SIGSEGV) reading the host's x86 /sys and /proc/cpuinfo: /sys
# stays unmounted with two cores described, and an ARM core's cpuinfo covers /proc/cpuinfo.
mkdir -p "$ROOT/proc" "$ROOT/sys/devices/system/cpu"
echo 0-1 > "$ROOT/sys/devices/system/cpu/present"
echo 0-1 > "$ROOT/sys/devices/system/cpu/possible"
mount --bind /proc "$ROOT/proc"
# the root sees none of this machine's pip settings (a find-links folder here is not there)
for var in $(compgen -e | grep '^PIP_' || true); do unset "$var"; done
arm_cpuinfo() {  # $1: CPU part, $2: Features
    for n in 0 1; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$n" "$2"
        printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 3\n\n' "$1"
    done
}
arm_cpuinfo 0xd08 "fp asimd evtstrm crc32 cpuid" > "$CPUINFO"
mount --bind "$CPUINFO" "$ROOT/proc/cpuinfo"
QEMU_CPU=cortex-a72 chroot "$ROOT" /bin/sh -c '
    set -e
    [ -x /opt/venv/bin/python ] || python3 -m venv /opt/venv
    /opt/venv/bin/pip install -q --disable-pip-version-check /opt/edge-fer/*.whl
    /opt/venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps /opt/edge-fer/*.whl
    cd /tmp && /opt/venv/bin/edge-fer predict --demo --json'
umount "$ROOT/proc/cpuinfo"

PYTHONPATH="$REPO" "$PY" "$REPO/tools/arm64_answers.py" > "$BASE/x86_64.json"
run_as() {  # $1: name, $2: qemu CPU, $3: CPU part, $4: Features
    arm_cpuinfo "$3" "$4" > "$CPUINFO"
    mount --bind "$CPUINFO" "$ROOT/proc/cpuinfo"
    QEMU_CPU=$2 chroot "$ROOT" /opt/venv/bin/python /opt/edge-fer/arm64_answers.py > "$BASE/$1.json"
    umount "$ROOT/proc/cpuinfo"
}
run_as cortex-a72 cortex-a72 0xd08 "fp asimd evtstrm crc32 cpuid"
run_as cortex-a76 cortex-a76 0xd0b \
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"

"$PY" - "$BASE" <<'PYEOF'
import json
import sys
from pathlib import Path

import numpy as np

base = Path(sys.argv[1])
ref = json.loads((base / "x86_64.json").read_text())
failed = False
for core in ("cortex-a72", "cortex-a76"):
    got = json.loads((base / f"{core}.json").read_text())
    print(f"{core}: {got['machine']}, {got['cpu']}, class {got['isa_class']}, {got['faces']} faces")
    assert got["machine"] == "aarch64", got["machine"]
    if set(got["answers"]) != set(ref["answers"]):
        print(f"  models differ: {sorted(got['answers'])} vs {sorted(ref['answers'])}")
        failed = True
    for key in sorted(ref["answers"]):
        a, b = np.array(ref["answers"][key]), np.array(got["answers"][key])
        agree = float(np.mean(a.argmax(1) == b.argmax(1)))
        diff = float(np.abs(a - b).max())
        # fp32 kernels differ in summation order only; int8 ones in rounding: the export's
        # own int8-vs-fp32 bound is 96% agreement
        ok = (diff <= 1e-3 and agree == 1.0) if key.endswith("fp32") else agree >= 0.96
        failed |= not ok
        print(f"  {key}: same label on {100 * agree:.1f}% of faces, max |dp| {diff:.2e} "
              f"{'ok' if ok else 'DIFFERS'}")
sys.exit(1 if failed else 0)
PYEOF
echo "arm64-check: ok"
