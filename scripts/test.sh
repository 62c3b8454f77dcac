#!/usr/bin/env bash
# Installs what tarn's tests need on a fresh machine, then runs every test with the race
# detector and a short run of each fuzz target. Usage: scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL, for the store suite and the two-server test (started per test run on a free
# port by internal/pgtest; nothing is left running).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	echo "installing PostgreSQL from Debian's packages..."
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

go version

# MinIO (S3 + STS), built once with `go install` from the Go module proxy and cached under
# ~/.cache/tarn-test (TARN_TEST_CACHE); a cold build takes several minutes.
go run ./internal/miniotest/cmd/install-minio

# fake-gcs-server (Google Cloud Storage's JSON API, for the GCS data path), built once the
# same way and cached under ~/.cache/tarn-test.
go run ./internal/fakegcstest/cmd/install-fake-gcs-server

# Azurite (Azure Blob Storage emulator), installed once with npm and cached under
# ~/.cache/tarn-test/azurite (TARN_TEST_CACHE). It needs Node.js 20 or newer with npm;
# where npm is missing it comes from Debian's packages.
if ! command -v npm >/dev/null 2>&1; then
	echo "installing Node.js and npm from Debian's packages..."
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "node $(node --version), npm $(npm --version)"
go run ./internal/azuritetest/cmd/install-azurite

# The Azure CLI and rclone, for the README's recipes with vended SAS (cmd/tarn
# TestAzureToolRecipes, against Azurite on 127.0.0.1 only), from Debian's packages.
if ! command -v az >/dev/null 2>&1 || ! command -v rclone >/dev/null 2>&1; then
	echo "installing the Azure CLI and rclone from Debian's packages..."
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq azure-cli rclone >/dev/null
fi

# Chromium, for the console's tests in a real headless browser (internal/browsertest; on
# 127.0.0.1 only), from Debian's packages.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && [ -z "${TARN_CHROMIUM:-}" ]; then
	echo "installing Chromium from Debian's packages..."
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

go vet ./...
# Fuzz targets: a short run each on top of their seed corpora (the test run below replays them too).
# A run fails the script when it finds a failing input, which go test writes to
# testdata/fuzz/TARGET. Go 1.26's fuzz coordinator can also end a run at its -fuzztime with a
# bare "context deadline exceeded" and no input (go.dev/issue/75804, fixed in Go 1.27): that
# is reported and not counted, since the test run below still replays every seed.
inputs() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
for target in $(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/^func //' | sort -u); do
	pkg=$(grep -rlE "^func ${target}\(" --include='*_test.go' . | head -1 | xargs dirname)
	corpus="${pkg}/testdata/fuzz/${target}"
	before=$(inputs "${corpus}")
	echo "fuzzing ${target} in ${pkg} for ${FUZZTIME:-15s}"
	if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="${FUZZTIME:-15s}" "${pkg}"; then
		if [ "$(inputs "${corpus}")" -gt "${before}" ]; then
			echo "${target} found a failing input: see ${corpus}" >&2
			exit 1
		fi
		echo "note: ${target} ended with an error but found no failing input (go.dev/issue/75804); not counted"
	fi
done

# Every test, with the race detector.
go test -race -count=1 "$@" ./...
