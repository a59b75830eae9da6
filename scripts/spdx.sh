#!/usr/bin/env bash
# Puts the licence header
#
#   // SPDX-License-Identifier: Apache-2.0
#
# followed by a blank line at the top of every hand-written Go file tracked
# by git (or of the files given as arguments), and prints the files it
# changed. Generated files (a `// Code generated ... DO NOT EDIT.` line
# before the package clause) are left alone. Running it again changes
# nothing, so it can be re-run after a merge.
#
# The blank line keeps the header out of the package doc comment: a doc
# comment is the comment directly above `package`, and `//go:build` lines
# may follow other line comments, so both stay valid below the header.
set -euo pipefail

cd "$(dirname "$0")/.."
header='// SPDX-License-Identifier: Apache-2.0'

if (($#)); then
	files=("$@")
else
	mapfile -t files < <(git ls-files '*.go')
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

for f in "${files[@]}"; do
	[[ -f $f ]] || continue
	# Go's rule for generated files: the marker line comes before the package clause.
	if awk '/^package[ \t]/ { exit } /^\/\/ Code generated .* DO NOT EDIT\.$/ { found = 1; exit } END { exit !found }' "$f"; then
		continue
	fi
	if [[ $(head -n 1 "$f") == "$header" ]]; then
		# Already there; make sure a blank line follows it.
		if [[ -n $(sed -n 2p "$f") ]]; then
			{ printf '%s\n\n' "$header"; tail -n +2 "$f"; } >"$tmp"
			cat "$tmp" >"$f"
			echo "$f"
		fi
		continue
	fi
	{ printf '%s\n\n' "$header"; cat "$f"; } >"$tmp"
	cat "$tmp" >"$f" # keeps the file's mode
	echo "$f"
done
