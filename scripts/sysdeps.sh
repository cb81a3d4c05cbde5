#!/usr/bin/env bash
# Installs the Debian packages the project needs, only when something is missing.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
{ command -v sox >/dev/null && sox -h 2>/dev/null | grep -q amr-nb; } || need+=(libsox-fmt-base)
command -v pdftotext >/dev/null || need+=(poppler-utils)
command -v pdfsig >/dev/null || need+=(poppler-utils)
command -v chromium >/dev/null || need+=(chromium)
# the code sandbox (coding/): bubblewrap, setpriv and prlimit (util-linux), python3 and
# node as the interpreters candidates' solutions run under
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v setpriv >/dev/null || need+=(util-linux)
command -v prlimit >/dev/null || need+=(util-linux)
[ -x /usr/bin/python3 ] || need+=(python3)
[ -x /usr/bin/node ] || need+=(nodejs)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
