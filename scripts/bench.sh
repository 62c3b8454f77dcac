#!/usr/bin/env bash
# Runs tarn's benchmarks once each. Every benchmark measures its own baseline in the same
# run and reports "ratio" = tarn / baseline, so figures from different machines compare.
# The benchmarks run against a real MinIO on loopback (built once and cached, see
# internal/miniotest) and a real Azurite (installed once with npm and cached, see
# internal/azuritetest) and a real fake-gcs-server (built once with go install and cached,
# see internal/fakegcstest), which this script installs first, with Google's IAM Credentials
# and STS played by internal/googletest; the PostgreSQL one against a throwaway cluster that
# internal/pgtest starts from the installed PostgreSQL binaries. The viewer's benchmark needs
# Debian's chromium (scripts/test.sh installs it) and is skipped without it.
# Usage: scripts/bench.sh [benchmark regexp]
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./internal/miniotest/cmd/install-minio >/dev/null
go run ./internal/azuritetest/cmd/install-azurite >/dev/null
go run ./internal/fakegcstest/cmd/install-fake-gcs-server >/dev/null
go test -run '^$' -bench "${1:-.}" -benchtime 1x -timeout 30m ./internal/bench 2>&1 |
	awk '
	BEGIN {
		what["BenchmarkCachedVend"] = "cached read vends of an S3 dataset (aws creds key on MinIO) by one tarn on SQLite vs a bare Go handler answering the same JSON; 64 clients, 20,000 requests each; p50/p99 per request; ratio = vend-req/s / bare-req/s (goal >= 0.5, vend p99 <= 5 ms)"
		what["BenchmarkCachedVendPostgres"] = "the same cached read vends by two tarn servers sharing one PostgreSQL database (a throwaway local cluster), the 64 clients split evenly between them, vs the same bare Go handler; ratio = vend-req/s / bare-req/s (goal >= 0.5, vend p99 <= 5 ms)"
		what["BenchmarkCachedVendAzure"] = "cached read vends of an Azure dataset (azure creds key, shared key, on Azurite: a container SAS) vs the same bare Go handler; 64 clients, 20,000 requests each; ratio = vend-req/s / bare-req/s (goal >= 0.5, vend p99 <= 5 ms)"
		what["BenchmarkColdCacheVendsAzure"] = "1,000 concurrent read vends of one Azure dataset (auth client-secret; Azurite with --oauth, Entra ID played by internal/entratest) on a fresh tarn: upstream calls, user delegation keys fetched (udk-fetches) and Entra ID tokens (tokens) they cost (expected 1 each) and wall time"
		what["BenchmarkCachedVendGCS"] = "cached read vends of a GCS dataset (gcs creds key, auth default: impersonation and STS downscoping played by internal/googletest, data on fake-gcs-server) vs the same bare Go handler; 64 clients, 20,000 requests each; ratio = vend-req/s / bare-req/s (goal >= 0.5, vend p99 <= 5 ms)"
		what["BenchmarkColdCacheVendsGCS"] = "1,000 concurrent read vends of one GCS dataset on a fresh tarn with fresh ADC: upstream calls, impersonations (generateAccessToken), downscopes (STS token exchanges) and ADC tokens they cost, as internal/googletest counts them (expected 1 each), and wall time"
		what["BenchmarkColdCacheVends"] = "1,000 concurrent read vends of one S3 dataset on a fresh tarn (cold cache): STS AssumeRole calls they cost (expected 1) and wall time"
		what["BenchmarkDatasetStream"] = "20,000 rows of ~100 KiB random JPEG-sized images (image, filename) on MinIO: import through dataset.CreatePath(al://...) + Appender (64 MiB data files, 32 MiB row groups); then stream the image column with Iter (Prefetch 8: row groups by ranged reads) through dataset.OpenPath(al://..., read) vs 8 concurrent whole GETs (root keys) of the dataset data files (large objects) and of the same bytes stored as 20,000 objects; best of 2 runs each; ratio = dataset MiB/s / data files MiB/s (goal >= 0.7), objects-ratio = dataset MiB/s / objects MiB/s; peak RSS (VmHWM, reset before each run) and CPU seconds of this process for the dataset stream and the file GETs (on few cores the client competes with MinIO for CPU)"
		what["BenchmarkDatasetQuery"] = "1,000,000 rows (id int64 in row order, a 96-byte random image) on MinIO in 2 MiB row groups; the 1 % filter id >= 500000 && id < 510000 with every column through Query on dataset.OpenPath(al://..., read): bytes read / dataset bytes (target <= 0.05; row-group statistics prune) and ratio = its time / a full scan with Iter; also the unprunable 1 % filter id % 100 == 0; and the same rows in one 64 MiB row group per data file (al://local/coco-large), where only the page index prunes: large-bytes/dataset and large-ratio = query time / a full scan of that dataset; best of 2 runs each"
		what["BenchmarkNearest"] = "top-10 nearest neighbours (cosine) over 200,000 x 128-d float32 embeddings on MinIO (8 MiB row groups, 32 MiB data files) with ds.Nearest through dataset.OpenPath(al://..., read); best of 3; ratio-loop = Nearest time / a plain one-goroutine Go loop over the same vectors already in memory (the limit), ratio-read = Nearest time / reading the column once with Iter (Prefetch 8)"
		what["BenchmarkAzureRead"] = "read 256 MiB (64 blobs of 4 MiB, 8 readers) from Azurite through storage.OpenBucket(al://...) with a vended SAS vs the same code with the account key; after one untimed warm-up read, best of 2 runs each; ratio = tarn / key (target >= 0.95)"
		what["BenchmarkGCSRead"] = "read 256 MiB (64 objects of 4 MiB, 8 readers) from fake-gcs-server through storage.OpenBucket(al://...) with a vended downscoped token vs the same code (gcsblob over the JSON API) with no token; after one untimed warm-up read, best of 2 runs each; ratio = tarn / no-token (target >= 0.95)"
		what["BenchmarkViewerPage"] = "the console dataset viewer in headless Chromium on 20,000 rows of ~100 KiB JPEGs (1.9 GiB) on MinIO: first page of 50 images from navigation until decoded (target <= 1.5 s) and the next page from its click, each with store bytes read / image bytes shown (target <= 2); baseline = a plain page of the same 50 JPEGs as 50 presigned objects, navigation until decoded; best of 3; ratio = viewer first page / baseline"
		what["BenchmarkS3Read"] = "read 256 MiB (64 objects of 4 MiB, 8 readers) from MinIO through storage.OpenBucket(al://...) with vended credentials vs the same code with MinIO root keys; after one untimed warm-up read, best of 2 runs each; ratio = tarn / root"
	}
	/^(goos|goarch|pkg|PASS$)/ { next }
	/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		if (name in what) print "# " name ": " what[name]
		printf "%s (%s run)\n", $1, $2
		for (i = 3; i + 1 <= NF; i += 2) printf "    %s: %s\n", $(i + 1), $i
		fflush(); next
	}
	{ print; fflush() }'
