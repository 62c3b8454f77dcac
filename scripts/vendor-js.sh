#!/usr/bin/env bash
# vendor-js.sh: fetches the console's third-party browser code, pinned by version and by
# the registry's sha512 integrity, and copies what the browser loads into
# internal/console/static/vendor. The result is committed, so neither the build nor the
# tests need npm; run this only to change a version (then update the pins below).
#
#   hyparquet  the Parquet reader of the dataset viewer (pure JavaScript, ES modules)
#   fzstd      the Zstd decompressor for the data files' pages
set -euo pipefail
cd "$(dirname "$0")/.."

pins=(
  "hyparquet 1.33.0 sha512-8EKLe73vRIMEKVEOe5y+kIzFxo6AvbLvd5ukd7P+yv3RvG0+TZM4qO8imbqxU6zds5pV+OeWRTMwy95mhHUheg=="
  "fzstd 0.1.1 sha512-dkuVSOKKwh3eas5VkJy1AW1vFpet8TA/fGmVA5krThl8YcOVE/8ZIoEA1+U1vEn5ckxxhLirSdY837azmbaNHA=="
)
dest=internal/console/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for pin in "${pins[@]}"; do
  read -r name version integrity <<<"$pin"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  tgz="$tmp/$name-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "vendor-js: $name@$version has integrity $got, want $integrity; not vendored" >&2
    exit 1
  fi
  mkdir -p "$tmp/$name" && tar xzf "$tgz" -C "$tmp/$name"
  rm -rf "${dest:?}/$name" && mkdir -p "$dest/$name"
  cp "$tmp/$name/package/LICENSE" "$dest/$name/LICENSE"
  case "$name" in
    hyparquet) # the browser entry point and its modules; node.js is the Node entry point
      cp "$tmp/$name"/package/src/*.js "$dest/$name/"
      rm "$dest/$name/node.js" ;;
    fzstd)
      cp "$tmp/$name/package/esm/index.mjs" "$dest/$name/index.js" ;;
  esac
  echo "vendored $name@$version"
done
