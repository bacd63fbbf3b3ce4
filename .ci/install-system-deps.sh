#!/usr/bin/env bash
# Debian packages the integration tests need (idempotent: installs only what is missing).
#   - GStreamer RTSP server for the system python (tests/sources/rtsp_server.py), with the
#     plugins that encode (x264enc: ugly), packetise (rtph264pay: good) and parse (bad, libav).
#   - Chromium (and a font) for the console's browser tests (tests/browser, Playwright drives
#     /usr/bin/chromium through executable_path; no browser is ever downloaded).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  python3-gi
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  chromium
  fonts-dejavu-core
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system deps: all present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "system deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
