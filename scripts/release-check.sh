#!/usr/bin/env bash
# Checks the release configuration without publishing anything:
#   1. builds GoReleaser at the version pinned in tools/go.mod into bin/
#      (its own module, so it never enters taskwire's dependency graph);
#   2. `goreleaser check` validates .goreleaser.yaml;
#   3. a snapshot build for this machine (`goreleaser build --snapshot
#      --single-target`), whose `taskwire version` must print the snapshot
#      version, the commit and the commit date that GoReleaser stamped.
# The first run downloads and compiles GoReleaser (about 5 minutes on two
# cores); later runs reuse the build cache. Run it as `make release-check`.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}

"$GO" build -C tools -o ../bin/goreleaser github.com/goreleaser/goreleaser/v2
bin/goreleaser --version | grep GitVersion

bin/goreleaser check

# GoReleaser reads the commit only from a repository that has a remote; a
# clone without one gets the project's URL for this run (nothing is written).
if [[ -z $(git remote) ]]; then
	export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/taskwire/taskwire.git
fi
bin/goreleaser build --snapshot --single-target --clean --output bin/taskwire-snapshot

out=$(bin/taskwire-snapshot version)
echo "$out"
head=$(git rev-parse HEAD)
commit_date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)
fail=0
expect() { # expect REGEX WHAT
	if ! grep -Eq "$1" <<<"$out"; then
		echo "release-check: taskwire version of the snapshot lacks $2 (/$1/)" >&2
		fail=1
	fi
}
expect "^taskwire v[0-9]+\.[0-9]+\.[0-9]+-snapshot\+${head:0:7}[0-9a-f]* \(spec format [0-9]+\)$" "the snapshot version"
expect "^commit: $head$" "the commit"
expect "^date: +$commit_date$" "the commit date"
exit $fail
