#!/usr/bin/env bash
# Builds a topic-classification dataset from Debian's fortunes files: each
# fortune (the text between "%" lines) of the named topic files is one example,
# labeled with its file's name; every 5th fortune of each file goes to dev.tsv,
# the rest to train.tsv (header "text<TAB>label"; newlines and tabs inside a
# fortune become spaces). Deterministic: the same files give the same split.
# Usage: scripts/fortunes_topics.sh OUT_DIR [FORTUNES_DIR] [TOPIC...]
#        (defaults: /usr/share/games/fortunes; computers politics science work)
set -euo pipefail
OUT=${1:?usage: fortunes_topics.sh OUT_DIR [FORTUNES_DIR] [TOPIC...]}
SRC=${2:-/usr/share/games/fortunes}
shift $(( $# >= 2 ? 2 : 1 ))
TOPICS=("$@")
[ ${#TOPICS[@]} -eq 0 ] && TOPICS=(computers politics science work)
mkdir -p "$OUT"
printf 'text\tlabel\n' > "$OUT/train.tsv"
printf 'text\tlabel\n' > "$OUT/dev.tsv"
for t in "${TOPICS[@]}"; do
  f="$SRC/$t"
  [ -f "$f" ] || { echo "fortunes_topics.sh: no topic file $f (apt-get install fortunes)" >&2; exit 1; }
  awk -v label="$t" -v train="$OUT/train.tsv" -v dev="$OUT/dev.tsv" '
    function flush() {
      gsub(/[\t\r]/, " ", rec); gsub(/^ +| +$/, "", rec); gsub(/  +/, " ", rec)
      if (rec != "") { print rec "\t" label >> ((n++ % 5 == 4) ? dev : train) }
      rec = ""
    }
    /^%$/ { flush(); next }
    { rec = rec (rec == "" ? "" : " ") $0 }
    END { flush() }' "$f"
done
echo "fortunes_topics.sh: $(($(wc -l < "$OUT/train.tsv") - 1)) train / $(($(wc -l < "$OUT/dev.tsv") - 1)) dev examples, topics: ${TOPICS[*]}"
