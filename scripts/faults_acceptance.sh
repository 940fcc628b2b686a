#!/usr/bin/env bash
# Measures issue #26's acceptance figures on the real `lca learn` (default
# settings, embedded images) rather than the short runs of tests/faults.rs:
#   1. two `lca learn` on one folder: the second's exit code, time and message;
#      the first's dictionary against a solo run's, byte for byte;
#   2. 20 kill -9 instants spread over a run with --checkpoint-every 10, then a
#      damaged newest checkpoint: each `--resume` against the uninterrupted run;
#   3. ENOSPC on a tmpfs mid-run (needs root): the one line, then, after
#      `mount -o remount,size=...`, `--resume` against the uninterrupted run.
# Usage: scripts/faults_acceptance.sh [STEPS]   (default 300; build first with
# `cargo build --release`). Prints one line per check; exits non-zero on a failure.
set -euo pipefail

LCA="${LCA_BIN:-$(dirname "$0")/../target/release/lca}"
STEPS="${1:-300}"
WORK="$(mktemp -d)"
MNT="$WORK/mnt"
trap 'umount "$MNT" 2>/dev/null || true; rm -rf "$WORK"' EXIT
RUN=(learn --steps "$STEPS" --checkpoint-every 10 --seed 1 --quiet)
fail() { echo "FAIL: $*"; exit 1; }
same() { cmp -s "$1/dictionary.npy" "$2/dictionary.npy"; }

"$LCA" "${RUN[@]}" --output "$WORK/whole"
echo "uninterrupted run: $STEPS steps"

# 1. Two runs on one folder.
"$LCA" "${RUN[@]}" --output "$WORK/shared" &
first=$!
while [ ! -s "$WORK/shared/.lock" ]; do sleep 0.01; done
t0=$(date +%s.%N)
set +e
msg=$("$LCA" "${RUN[@]}" --output "$WORK/shared" 2>&1)
code=$?
set -e
t1=$(date +%s.%N)
wait "$first" || fail "the first run failed"
[ "$code" -ne 0 ] || fail "the second run was not refused"
same "$WORK/shared" "$WORK/whole" || fail "the first run's dictionary differs from a solo run's"
printf 'second run: exit %d after %.3f s: %s; first run byte-identical to a solo run\n' \
    "$code" "$(echo "$t1 - $t0" | bc)" "$msg"

# 2. kill -9 at 20 instants spread over the run (from its config.json on:
# before that there is no run to resume), then resume.
started() { while [ ! -e "$1/config.json" ]; do sleep 0.002; done; }
"$LCA" "${RUN[@]}" --output "$WORK/timed" &
pid=$!
started "$WORK/timed"
start=$(date +%s.%N)
wait "$pid"
length=$(echo "$(date +%s.%N) - $start" | bc)
identical=0
for i in $(seq 0 19); do
    out="$WORK/killed$i"
    "$LCA" "${RUN[@]}" --output "$out" &
    pid=$!
    started "$out"
    sleep "$(echo "$length * ($i + 0.5) / 20" | bc -l)"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    "$LCA" learn --quiet --resume "$out"
    same "$out" "$WORK/whole" && identical=$((identical + 1))
done
echo "kill -9 at 20 instants over a ${length} s run: $identical of 20 resumed byte-identical"
[ "$identical" -eq 20 ] || fail "a resumed run differs"

# A damaged newest checkpoint: bit flips and cuts.
damaged=0
for damage in flip:100 flip:middle cut:middle cut:end; do
    out="$WORK/damaged-$damage"
    cp -r "$WORK/whole" "$out"
    ckpt="$out/checkpoint.npz"
    size=$(stat -c %s "$ckpt")
    at=${damage#*:}
    case $at in middle) at=$((size / 2)) ;; end) at=$((size - 1)) ;; esac
    case $damage in
        flip:*) python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[int(sys.argv[2])]^=8; open(p,'wb').write(b)" "$ckpt" "$at" ;;
        cut:*) truncate -s "$at" "$ckpt" ;;
    esac
    note=$("$LCA" learn --resume "$out" 2>&1 | grep -o 'resuming from .*' || true)
    same "$out" "$WORK/whole" || fail "$damage: the resumed run differs"
    damaged=$((damaged + 1))
    echo "damaged newest checkpoint ($damage): ${note:-read fine}; byte-identical"
done

# 3. A full disk mid-run.
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=160k tmpfs "$MNT" 2>/dev/null; then
    echo "skipped the full-disk check: mounting a tmpfs needs root"
    exit 0
fi
set +e
msg=$("$LCA" "${RUN[@]}" --batch-size 512 --patch-size 12 --atoms 32 --output "$MNT/run" 2>&1)
code=$?
set -e
"$LCA" "${RUN[@]}" --batch-size 512 --patch-size 12 --atoms 32 --output "$WORK/whole-big"
[ "$code" -ne 0 ] || fail "the run on a full disk succeeded"
lines=$(printf '%s\n' "$msg" | wc -l)
echo "full disk: exit $code, $lines line: $msg"
mount -o remount,size=8m "$MNT"
"$LCA" learn --quiet --resume "$MNT/run"
same "$MNT/run" "$WORK/whole-big" || fail "the run resumed after freeing space differs"
echo "after enlarging the tmpfs: --resume byte-identical to the uninterrupted run"
