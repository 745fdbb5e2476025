#!/usr/bin/env bash
# Write what mesocli prints and writes for a fixed set of commands on the shared clips, with run
# times zeroed, so two versions can be compared byte for byte:
#   benchmarks/snapshot_outputs.sh OUT_A            # on one commit
#   benchmarks/snapshot_outputs.sh OUT_B            # on another
#   diff -r OUT_A OUT_B && echo identical
# Needs ../shared (or $MESOCLI_SHARED) and the FF++ test faces in build/ffpp-test20
# (SPLITS=test scripts/build_ffpp_faces.sh ../shared/data/ffpp-c23 build/ffpp-test20 --frames 20).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
shared=${MESOCLI_SHARED:-../shared}
faces=${FFPP_FACES:-build/ffpp-test20}
mesocli=${MESOCLI:-.venv/bin/mesocli}
mkdir -p "$out"
# run times zeroed, and when a row or a report was made (scanned_at, provenance.finished_at) blanked
zero() { sed -E -i 's/"(seconds|images_per_second)": ?[0-9.]+/"\1": 0/g; s/"(scanned_at|finished_at)": ?"[^"]*"/"\1": ""/g' "$@"; }

"$mesocli" scan "$shared/videos" --frames 30 -q -o "$out/scan.json"
"$mesocli" scan "$shared/videos" --frames 30 --detail -q -o "$out/scan-detail.jsonl"
"$mesocli" scan "$shared/videos" --every 10 --aggregate vote -q -o "$out/scan.csv"
"$mesocli" scan "$shared/videos" --frames 10 --model any --all-faces -q -o "$out/scan-any.json"
"$mesocli" scan "$shared/videos" --frames 10 --arch mesoinception4 -q --format table > "$out/scan-table.txt"
"$mesocli" scan "$shared/reference" -q -o "$out/scan-images.json" || true
zero "$out"/scan*.json* 
# csv: the seconds and scanned_at columns, found by name
python3 - "$out/scan.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
columns = [rows[0].index(name) for name in ("seconds", "scanned_at") if name in rows[0]]
for row in rows[1:]:
    for column in columns:
        row[column] = "0"
with open(sys.argv[1], "w", newline="") as f:
    csv.writer(f).writerows(rows)
PY
sed -E -i 's/[0-9]+\.[0-9]+ ?s\b/0s/g' "$out/scan-table.txt"

"$mesocli" eval --data "$faces" --split test --model any --format json -q > "$out/eval-any.json"
"$mesocli" eval --data "$faces" --split test --scores "$out/eval-scores.csv" --format json -q > "$out/eval.json"
zero "$out"/eval*.json

clip=$(find "$shared/videos/fake" -name '*.mp4' | sort | head -1)
"$mesocli" extract "$clip" "$out/extract" --frames 10 -q
( cd "$out/extract" && find . -type f ! -name manifest.jsonl ! -name .mesocli-extract.lock -print0 | sort -z | xargs -0 sha256sum > ../extract-files.sha256 )
grep -v '"started"\|"seconds"' "$out/extract/manifest.jsonl" | sed -E 's/"(time|created|started|finished)[a-z_]*": ?"[^"]*"/"\1": ""/g' > "$out/extract-manifest.jsonl" || true
rm -rf "$out/extract"
echo "snapshot in $out"
