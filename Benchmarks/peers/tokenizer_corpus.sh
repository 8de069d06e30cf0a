#!/bin/sh
# The text corpus of `proxima bench tokenizer`: text every Debian system ships, the licence texts in
# /usr/share/common-licenses and the packages' /usr/share/doc/*/copyright files, taken in that order (each group
# sorted bytewise) and concatenated whole, file after file, until at least MIN_BYTES (default 5,000,000) are written.
# Invalid UTF-8 bytes are dropped (iconv -c) so that every tokenizer reads the same characters. The same system
# gives the same file, byte for byte.
#
# Usage: Benchmarks/peers/tokenizer_corpus.sh OUT [MIN_BYTES]
# Exits 1, writing nothing, when the system's files add up to fewer than MIN_BYTES.
set -eu
export LC_ALL=C

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT [MIN_BYTES]" >&2
  exit 2
fi
out=$1
minimum=${2:-5000000}
case $minimum in
  '' | *[!0-9]*) echo "$0: MIN_BYTES must be a whole number of bytes, got '$minimum'" >&2; exit 2 ;;
esac

command -v iconv > /dev/null || { echo "$0: iconv (glibc's libc-bin) is needed and not found" >&2; exit 1; }

partial="$out.partial.$$"
trap 'rm -f "$partial"' EXIT INT TERM
: > "$partial"

total=0
files=0
# The glob expands in bytewise order under LC_ALL=C; unmatched patterns stay literal and fail the -f test.
for file in /usr/share/common-licenses/* /usr/share/doc/*/copyright; do
  [ -f "$file" ] && [ -r "$file" ] || continue
  iconv -f UTF-8 -t UTF-8 -c < "$file" >> "$partial" || true
  total=$(wc -c < "$partial")
  files=$((files + 1))
  [ "$total" -ge "$minimum" ] && break
done

if [ "$total" -lt "$minimum" ]; then
  echo "$0: this system's licence and copyright files add up to only $total bytes ($files files in" \
       "/usr/share/common-licenses and /usr/share/doc/*/copyright); $minimum are needed" >&2
  exit 1
fi
mv "$partial" "$out"
trap - EXIT INT TERM
echo "$out: $total bytes from $files files"
