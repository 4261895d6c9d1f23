#!/usr/bin/env bash
# Install the pinned Pulumi CLI, verified by its SHA-256 before anything is unpacked:
#   bash scripts/install-pulumi.sh DEST
# Reads the version and checksum from constraints/pulumi-cli.txt (PULUMI_CLI_PIN overrides the file;
# PULUMI_RELEASES_URL the download base, https or file URLs only). On success DEST/pulumi holds the CLI and
# its language hosts, and that folder is added to $GITHUB_PATH when the script runs in a workflow. Any
# mismatch, a missing checksum, another platform, or a CLI that reports another version: exit 1 (2 for an
# unusable pin file), and DEST is left as it was.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: bash scripts/install-pulumi.sh DEST" >&2; exit 2; }
dest=$1
pin=${PULUMI_CLI_PIN:-$here/constraints/pulumi-cli.txt}
base=${PULUMI_RELEASES_URL:-https://get.pulumi.com/releases/sdk}
fail() { echo "install-pulumi: $*" >&2; exit "${code:-1}"; }

[ -f "$pin" ] || code=2 fail "$pin not found"
value() { sed -n "s/^$1=//p" "$pin" | tail -n 1; }
version=$(value version)
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  *) fail "no pinned checksum for $(uname -s)-$(uname -m) in $pin (only linux-x64)" ;;
esac
expected=$(value "sha256-$platform")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || code=2 fail "$pin: version=${version:-(missing)} is not X.Y.Z"
[[ $expected =~ ^[0-9a-f]{64}$ ]] || code=2 fail "$pin: sha256-$platform=${expected:-(empty)} is not a SHA-256; copy it from pulumi-$version-checksums.txt of the v$version release"

archive=pulumi-v$version-$platform.tar.gz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl --fail --silent --show-error --location --proto '=https,file' --proto-redir '=https' \
  --output "$work/$archive" "$base/$archive" || fail "could not download $base/$archive"
actual=$(sha256sum "$work/$archive" | cut -d' ' -f1)
[ "$actual" = "$expected" ] || fail "$archive: SHA-256 $actual, but $pin pins $expected: refusing to install it"

mkdir "$work/unpacked"
tar -xzf "$work/$archive" -C "$work/unpacked" --no-same-owner
[ -x "$work/unpacked/pulumi/pulumi" ] || fail "$archive has no pulumi/pulumi"
reported=$("$work/unpacked/pulumi/pulumi" version)
[ "$reported" = "v$version" ] || fail "$archive: the CLI says ${reported:-nothing}, not v$version"

mkdir -p "$dest"
rm -rf "$dest/pulumi.old"
if [ -e "$dest/pulumi" ]; then mv "$dest/pulumi" "$dest/pulumi.old"; fi
mv "$work/unpacked/pulumi" "$dest/pulumi"
rm -rf "$dest/pulumi.old"
if [ -n "${GITHUB_PATH:-}" ]; then echo "$(cd "$dest/pulumi" && pwd)" >> "$GITHUB_PATH"; fi
echo "install-pulumi: Pulumi CLI v$version ($archive, sha256 $actual) in $dest/pulumi"
