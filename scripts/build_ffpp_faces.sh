#!/usr/bin/env bash
# Turn FaceForensics++ c23 clips into an aligned-face dataset with mesocli's own extract.
#
#   scripts/build_ffpp_faces.sh [FFPP_ROOT] [OUT_DIR] [FRAME_OPTION...]
#
# FFPP_ROOT holds <split>/<method>/<id>.mp4 (default ../shared/data/ffpp-c23); OUT_DIR (default
# build/ffpp-faces) receives <split>/{df,real}/<method>/<video>_<frame>.jpg: the label comes from the
# method folder (original = real, every other method = df), the FF++ video id stays in the file name
# (033_097_12.jpg), which is what identity-grouped held-out splits and per-method eval read.
# By default every frame is extracted (hog detector, largest face) and training picks a frame stride
# per source (docs/training.md has the measurement behind it); FRAME_OPTION replaces --all-frames,
# e.g. `--frames 20` for the evaluation set. SPLITS (default "train test") limits the splits.
# Resumable: run it again after an interruption. An OUT_DIR that a mesocli with another alignment rule
# filled is refused (exit 2, one line): build into a new OUT_DIR.
set -euo pipefail
root="${1:-${MESOCLI_SHARED:-../shared}/data/ffpp-c23}"
out="${2:-build/ffpp-faces}"
shift $(( $# > 2 ? 2 : $# ))
frames=("$@")
[ ${#frames[@]} -eq 0 ] && frames=(--all-frames)
mesocli="${MESOCLI:-mesocli}"
for split in ${SPLITS:-train test}; do
  for method_dir in "$root/$split"/*/; do
    method="$(basename "$method_dir")"
    label=df
    [ "$method" = original ] && label=real
    echo "== $split/$method -> $out/$split/$label/$method" >&2
    status=0
    "$mesocli" extract "$method_dir" "$out" --layout dataset --split "$split" --label "$label/$method" \
      "${frames[@]}" --detector hog --quiet --format json > /dev/null || status=$?
    # 3 = some input failed; the manifest says which and why, the others are extracted
    if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi
  done
done
