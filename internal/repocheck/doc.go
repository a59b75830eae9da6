// SPDX-License-Identifier: Apache-2.0

// Package repocheck holds tests of the repository itself rather than of a
// package: the GitHub Actions workflow runs what .ci/run runs, the docs link
// what they name, and every hand-written Go file carries the licence
// header. It has no API.
package repocheck
